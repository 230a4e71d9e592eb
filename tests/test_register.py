"""`auditor register` on a real lab audit, with the example register file shipped in examples/: the files are
opened back (openpyxl for xlsx, odfpy for ods) and their cells checked against the audit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from test_cron import AUDITOR, ROOT, clean_env

from auditor.catalog import load_catalog
from auditor.lab import Lab
from auditor.pipeline import execute
from auditor.settings import PACKAGED_CATALOG, Settings

EXAMPLE = ROOT / "examples" / "register.yaml"
PROVIDERS = ["mailiz", "posteo", "signal", "proton"]


@pytest.fixture(scope="module")
def db(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("register") / "audits.sqlite"
    execute(Settings(**lab.overrides(), timeout=3.0, db=path), load_catalog(PACKAGED_CATALOG).select(PROVIDERS),
            quiet=True)
    return path


def register(db: Path, out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDITOR), "register", "--db", str(db), "--uses", str(EXAMPLE), "-o", str(out), *more],
                          env=clean_env(out.parent), capture_output=True, text=True, timeout=120, cwd=ROOT)


def xlsx_sheets(path: Path) -> dict[str, list[list[str]]]:
    from openpyxl import load_workbook

    book = load_workbook(path)
    return {ws.title: [["" if c is None else str(c) for c in row] for row in ws.iter_rows(values_only=True)]
            for ws in book.worksheets}


def ods_sheets(path: Path) -> dict[str, list[list[str]]]:
    from odf.opendocument import load
    from odf.table import Table, TableCell, TableRow

    doc = load(str(path))
    return {str(t.getAttribute("name")): [[str(c) for c in r.getElementsByType(TableCell)]
                                          for r in t.getElementsByType(TableRow)]
            for t in doc.spreadsheet.getElementsByType(Table)}


def rows_by_activity(sheet: list[list[str]], header: str) -> tuple[list[str], dict[str, list[str]]]:
    start = next(i for i, row in enumerate(sheet) if row and row[0] == header)
    return sheet[start], {row[0]: row for row in sheet[start + 1:] if row and row[0]}


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_the_register_holds_one_row_per_use_prefilled_from_the_audit(db: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"registre.{fmt}"
    result = register(db, out, "--format", fmt, "--lang", "fr")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    sheets = (xlsx_sheets if fmt == "xlsx" else ods_sheets)(out)
    assert list(sheets) == ["Registre", "AITD signal", "Sources"]
    register_sheet = sheets["Registre"]
    assert register_sheet[1][:2] == ["Organisme", "Cabinet médical des Tilleuls (exemple)"]
    header, rows = rows_by_activity(register_sheet, "Activité de traitement")
    assert len(rows) == 4
    column = {name: i for i, name in enumerate(header)}
    signal = rows["Messagerie instantanée de l’équipe"]
    assert signal[column["Destinataire (prestataire)"]] == "Signal — Signal Messenger LLC (US)"
    assert signal[column["Transferts hors UE/EEE (pays)"]] == "US"
    assert "CCT requises" in signal[column["Garanties / base du transfert"]]
    remarks = signal[column["Observations (lois d’accès étrangères…)"]]
    # said in French from the findings' data, not with their English notes
    assert ("CLOUD Act — 18 U.S.C. § 2713 (États-Unis) : atteint le prestataire par sa société (US) ; pris en compte"
            in remarks)
    assert "réseau d’hébergement exploité par Amazon.com, Inc. (US) : CLOUD Act" in remarks
    assert "exposition de l’opérateur, non un constat d’accès" in remarks
    assert not re.search(r"\b(reaches|through|not known|registered)\b", remarks), remarks
    proton = rows["Messagerie chiffrée avec l’avocat du cabinet"]
    assert proton[column["Rôle du destinataire"]].startswith("sous-traitant (art. 28)")
    # the adequacy decision as a French text cites it (regions.yaml `reference_fr`), not the English reference
    assert proton[column["Garanties / base du transfert"]] == (
        "Décision d’adéquation : Décision 2000/518/CE de la Commission du 26 juillet 2000")
    assert "E2EE : revendiqué, preuve : déclarée par le prestataire" in proton[column[
        "Mesures de sécurité observées (art. 32)"]]
    # Proton's importer, servers and parent company are all in CH: the country is said once per column
    assert proton[column["Pays des serveurs portant les données"]] == "CH"
    assert proton[column["Transferts hors UE/EEE (pays)"]] == "CH"
    for row in rows.values():
        for name in ("Pays des serveurs portant les données", "Transferts hors UE/EEE (pays)"):
            codes = re.findall(r"\b[A-Z]{2}\b", row[column[name]])
            assert len(codes) == len(set(codes)), (name, row[column[name]])
    posteo = rows["Messagerie du secrétariat"]
    assert posteo[column["Pays des serveurs portant les données"]] == "DE"
    assert posteo[column["Transferts hors UE/EEE (pays)"]] == "aucun"
    assert "DANE valide sur" in posteo[column["Mesures de sécurité observées (art. 32)"]]
    mailiz = rows["Messagerie sécurisée de santé (MSSanté) avec les confrères"]
    assert "données de santé (art. 9)" in mailiz[column["Catégories de données"]]
    assert mailiz[column["Délais d’effacement (durée de conservation)"]].startswith("messages conservés 1 an")
    # an HDS claim the catalog records as unknown is "not established", never "not claimed" (review 2026-12-02)
    measures = mailiz[column["Mesures de sécurité observées (art. 32)"]]
    assert "HDS : non établi dans les sources consultées" in measures and "HDS : non revendiqué" not in measures
    for row in rows.values():
        assert "(simulation de laboratoire)" in row[column["Preuve (audit, date)"]]
    # the transfer impact assessment: six steps, each answer the DPO owes marked as such
    tia = sheets["AITD signal"]
    steps = [row for row in tia if row and row[0][:2] in {"1.", "2.", "3.", "4.", "5.", "6."}]
    assert [s[0][:2] for s in steps] == ["1.", "2.", "3.", "4.", "5.", "6."]
    assert all(s[3] == "À COMPLÉTER PAR LE DPO" for s in steps)
    assert "Signal Messenger LLC (US)" in steps[0][2] and "CLOUD Act" in steps[2][2]
    assert steps[1][2].startswith("Mécanisme établi par l’audit : garanties appropriées (art. 46). ")
    # French typography and no English reference anywhere in the workbook
    cells = [c for sheet in sheets.values() for row in sheet for c in row]
    assert [c for c in cells if "'" in c] == []
    assert [c for c in cells if re.search(r"Commission (Implementing )?Decision|\b\d{4}/\d+/E[CU]\b", c)] == []


def visible_text(page: str) -> str:
    """What a reader of the HTML page sees: its text nodes, entities decoded (not the markup's own quotes)."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(page)
    return "\n".join(parser.parts)


def test_french_markdown_and_html_have_typographic_apostrophes_and_the_french_reference(db: Path,
                                                                                       tmp_path: Path) -> None:
    for fmt in ("md", "html"):
        out = tmp_path / f"registre.{fmt}"
        result = register(db, out, "--format", fmt, "--lang", "fr")
        assert result.returncode == 0, result.stderr
        text = out.read_text(encoding="utf-8")
        text = visible_text(text) if fmt == "html" else text
        assert "Décision 2000/518/CE de la Commission du 26 juillet 2000" in text
        assert "Commission Decision" not in text and "2000/518/EC" not in text
        assert "'" not in text, [line for line in text.splitlines() if "'" in line][:3]
        assert "Délais d’effacement" in text and "l’équipe" in text


def test_english_markdown_and_html(db: Path, tmp_path: Path) -> None:
    md = tmp_path / "register.md"
    assert register(db, md, "--format", "md", "--lang", "en").returncode == 0
    text = md.read_text(encoding="utf-8")
    assert "| Processing activity |" in text and "TO BE COMPLETED BY THE DPO" in text
    assert "SCC required (Art. 46(2)(c)" in text
    assert "Adequacy decision: Commission Decision 2000/518/EC (2000-07-26)" in text  # English unchanged
    assert "Mechanism per the audit: safeguards. " in text
    assert ("CLOUD Act — 18 U.S.C. § 2713 (United States): reaches the provider through its company (US); counted in "
            "the score") in text
    page = tmp_path / "register.html"
    assert register(db, page, "--format", "html", "--lang", "en").returncode == 0
    assert "<th>Recipient (provider)</th>" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize(("text", "expected"), [
    ("organisation: {name: X}\nuses:\n  - provider: posteo\n    activity: a\n",
     "register.yaml:3: missing required key 'purpose' in uses[0]"),
    ("organisation: {name: X}\nuses:\n  - provider: posteo\n    activity: a\n    purpose: p\n    data_subjects: [a]\n"
     "    data_categories: [b]\n    retention: r\n    colour: blue\n", "register.yaml:9: unknown key 'colour'"),
    ("organisation: {name: X}\nuses:\n  - provider: posteo\n    activity: a\n    purpose: p\n    data_subjects: [a]\n"
     "    data_categories: [b]\n    retention: r\n  - provider: tuta\n    activity: a\n    purpose: p\n"
     "    data_subjects: [a]\n    data_categories: [b]\n    retention: r\n",
     "register.yaml:9: provider 'tuta' is not in the audit"),
    ("organisation: [\n", "register.yaml:2: not valid YAML"),
])
def test_a_bad_register_file_is_one_line_with_its_line(db: Path, tmp_path: Path, text: str, expected: str) -> None:
    uses = tmp_path / "register.yaml"
    uses.write_text(text, encoding="utf-8")
    result = subprocess.run([str(AUDITOR), "register", "--db", str(db), "--uses", str(uses), "-o",
                             str(tmp_path / "r.xlsx")], env=clean_env(tmp_path), capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert expected in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_formula_in_a_dpo_value_stays_text(db: Path, tmp_path: Path) -> None:
    uses = tmp_path / "register.yaml"
    uses.write_text("organisation: {name: '=HYPERLINK(\"http://x\")'}\nuses:\n  - provider: posteo\n"
                    "    activity: '=1+1'\n    purpose: p\n    data_subjects: [a]\n    data_categories: [b]\n"
                    "    retention: r\n",
                    encoding="utf-8")
    out = tmp_path / "r.xlsx"
    result = subprocess.run([str(AUDITOR), "register", "--db", str(db), "--uses", str(uses), "-o", str(out)],
                            env=clean_env(tmp_path), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    from openpyxl import load_workbook

    cells = [c for row in load_workbook(out)["Registre"].iter_rows() for c in row if c.value == "=1+1"]
    assert cells and all(c.data_type == "s" for c in cells)
