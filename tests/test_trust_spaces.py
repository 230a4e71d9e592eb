"""Trust spaces: sector PKI roots as data (fingerprint-checked), and certificates judged against them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography import x509

from auditor.catalog import Provider
from auditor.errors import ConfigError
from auditor.findings import Finding, Status
from auditor.lab.ca import LabCA
from auditor.net.tls_enum import TlsScan
from auditor.probes.tls_checks import certificate_finding
from auditor.probes.trust_space import trust_space_findings
from auditor.trust_spaces import DATA_DIR, SpaceAnchors, anchors, fingerprint, load_trust_spaces


def test_shipped_igc_sante_root_is_the_recorded_one() -> None:
    data = load_trust_spaces()
    [root] = data.pki("igc-sante").roots
    [cert] = x509.load_pem_x509_certificates((DATA_DIR / root.file).read_bytes())
    assert fingerprint(cert) == root.sha256
    assert cert.subject.rfc4514_string().startswith("CN=AC RACINE IGC-SANTE ELEMENTAIRE")
    assert root.source.startswith("https://github.com/tbcom-web/plateforme-sante/") and root.retrieved
    assert anchors()["mssante"].roots == (cert,)


def test_a_replaced_root_file_is_refused(tmp_path: Path) -> None:
    shutil.copytree(DATA_DIR / "trust", tmp_path / "trust")
    ca = LabCA(tmp_path / "pki")
    shutil.copyfile(ca.bundle, tmp_path / "trust" / "igc-sante-racine-elementaire.pem")
    with pytest.raises(ConfigError, match="does not hold the certificate recorded"):
        anchors(data_dir=tmp_path)


def test_overrides_name_a_known_pki(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "pki")
    _, _, pem = ca.private_ca("igc-sante")
    assert anchors({"igc-sante": pem})["mssante"].roots[0].subject == ca.private["igc-sante"][1].subject
    with pytest.raises(ConfigError, match="unknown PKI 'igc-santé'"):
        anchors({"igc-santé": pem})


def test_space_membership_by_mail_domain() -> None:
    data = load_trust_spaces()
    assert data.space_for_mail_domain("medecin.mssante.fr") is not None
    assert data.space_for_mail_domain("MSSANTE.FR.") is not None
    assert data.space_for_mail_domain("notmssante.fr") is None
    assert data.space_for_mail_domain("mssante.fr.example") is None


def _scan(host: str, chain_file: Path) -> TlsScan:
    return TlsScan(host=host, ip="192.0.2.25", port=25, starttls=True,
                   chain=x509.load_pem_x509_certificates(chain_file.read_bytes()))


def test_certificates_in_a_trust_space(tmp_path: Path) -> None:
    """Defect 2: an IGC-Santé chain on an MSSanté MX is valid (anchored in the space); a web-PKI chain is
    trusted on the Internet but not by the space's peers; an unknown CA is neither."""
    ca = LabCA(tmp_path / "pki")
    public = x509.load_pem_x509_certificates(ca.bundle.read_bytes())
    _, _, pem = ca.private_ca("igc-sante")
    space = SpaceAnchors("mssante", "igc-sante", tuple(x509.load_pem_x509_certificates(pem.read_bytes())))
    host = "mx1.test.mssante.fr"

    def judge(issued: Path, in_space: SpaceAnchors | None = space) -> Finding:
        return certificate_finding("test.mssante.fr", f"{host}:25", host, [_scan(host, issued)], public,
                                   opportunistic=True, space=in_space)

    igc = judge(ca.issue([host], ca="igc-sante").chain_file)
    assert igc.status == Status.PASS, igc.summary
    assert igc.value | {"not_after": None} == {"trusted": True, "hostname_match": True, "expired": False,
                                               "not_after": None, "key": "EC-256", "anchor": "igc-sante",
                                               "trust_space": "mssante", "space_anchor": True}
    # the same chain outside the space: the public bundle alone does not know IGC-Santé
    outside = judge(ca.issue([host], ca="igc-sante").chain_file, in_space=None)
    assert outside.value["trusted"] is False and outside.value["anchor"] is None
    assert "trust_space" not in outside.value
    web = judge(ca.issue([host]).chain_file)
    assert web.status == Status.WARN and "not issued under igc-sante" in web.summary
    assert (web.value["trusted"], web.value["anchor"], web.value["space_anchor"]) == (True, "public", False)
    rogue = judge(ca.issue([host], fault="untrusted").chain_file)
    assert (rogue.value["trusted"], rogue.value["anchor"], rogue.value["space_anchor"]) == (False, None, False)


def _provider(domains: list[str]) -> Provider:
    return Provider.model_validate({"id": "p", "name": "P", "kind": "mail", "mail_domains": domains,
                                    "company": {"legal_name": "P SAS", "country": "FR"}})


def _cert(subject: str, target: str, anchored: bool | None, status: Status = Status.PASS) -> Finding:
    value = None if anchored is None else {"trusted": True, "anchor": "igc-sante" if anchored else "public",
                                           "trust_space": "mssante", "space_anchor": anchored}
    return Finding(id="tls.certificate", subject=subject, target=target, status=status, value=value, summary="s")


def test_trust_space_finding() -> None:
    assert trust_space_findings(_provider(["posteo.de"]), []) == []
    members = _provider(["a.mssante.fr", "b.mssante.fr"])
    a_ok = _cert("a.mssante.fr", "mx1:25", True)
    [ok] = trust_space_findings(members, [a_ok, _cert("b.mssante.fr", "mx2:25", True)])
    assert ok.status == Status.PASS and ok.value["anchored"] is True
    assert ok.value["domains"] == ["a.mssante.fr", "b.mssante.fr"]
    [bad] = trust_space_findings(members, [a_ok, _cert("b.mssante.fr", "mx2:25", False)])
    assert bad.status == Status.FAIL and bad.value["anchored"] is False and bad.value["not_anchored"] == ["mx2:25"]
    [unknown] = trust_space_findings(members, [_cert("a.mssante.fr", "mx1:25", True),
                                               _cert("b.mssante.fr", "mx2:25", None, Status.ERROR)])
    assert unknown.status == Status.ERROR and unknown.value["anchored"] is None  # never a pass with a gap
