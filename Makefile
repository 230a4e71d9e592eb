# The README's quick start: `make demo` and `make test`, each creating .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint schema goldens bench clean chromium netns-tools redis

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/auditor demo

test: $(STAMP) chromium netns-tools redis
	$(BIN)/python -m pytest -q

# The report's browser and PDF tests run in headless Chromium (Debian's package; no browser download).
# Without root or apt, they are skipped with that reason rather than failing the whole run.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) || \
	  echo "make: Chromium could not be installed; the browser and PDF tests will be skipped"

# The vantage-point tests run the lab and the scanner in network namespaces (iproute2) and block port 25 there
# with nftables (Debian's packages; the kernel's nf_tables, no module to load). Without root or apt they are
# skipped with that reason.
netns-tools:
	@(command -v ip >/dev/null 2>&1 && command -v nft >/dev/null 2>&1) || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    iproute2 nftables) || \
	  echo "make: iproute2/nftables could not be installed; the network-namespace tests will be skipped"

# The broker tests (tests/test_distributed.py) start their own redis-server on a free loopback port (Debian's
# package; nothing listens once they end: the package's own service is not needed). Without it they are skipped.
redis:
	@command -v redis-server >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    redis-server) || \
	  echo "make: redis-server could not be installed; the broker tests will be skipped"

lint: $(STAMP)
	$(BIN)/ruff check auditor tests bench
	$(BIN)/mypy auditor bench

schema: $(STAMP)
	$(BIN)/python -m auditor.schema

# tests/golden/ from the real pipeline on the lab (review the diff: tests/test_golden.py fails on drift).
goldens: $(STAMP)
	$(BIN)/python tests/regen_goldens.py

# Speed at scale and against peer tools (bench/run.py; results in reports/bench-<date>.md). The peers are
# installed here when missing: testssl.sh from Debian, checkdmarc in its own venv (it would upgrade
# `cryptography` under sslyze in .venv). BENCH_ARGS e.g. "--sizes 100 --rtts 0,50 --no-peers".
# Then the broker rows (bench/broker.py: 1, 2, 4 workers and a killed one; reports/bench-broker-<date>.md);
# BROKER_BENCH_ARGS e.g. "--size 300 --workers 1,2,4".
PEER_VENV := .venv-bench
bench: $(STAMP) redis
	@command -v testssl >/dev/null 2>&1 || command -v testssl.sh >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh) || \
	  echo "make: testssl.sh could not be installed; the benchmark will say so"
	@test -x $(PEER_VENV)/bin/checkdmarc || ($(PYTHON) -m venv $(PEER_VENV) && \
	  $(PEER_VENV)/bin/python -m pip install --quiet checkdmarc) || \
	  echo "make: checkdmarc could not be installed; the benchmark will say so"
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/broker.py $(BROKER_BENCH_ARGS)

clean:
	rm -rf $(VENV) $(PEER_VENV) .pytest_cache .mypy_cache .ruff_cache
