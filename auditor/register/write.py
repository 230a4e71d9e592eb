"""The register document as a file: xlsx (openpyxl), ods (odfpy), Markdown or HTML (jinja2, autoescaped).

Spreadsheets: the organisation block on top of the register sheet, one row per processing activity, one sheet per
transfer impact assessment, a sources sheet. Cells are text: a value written by a stranger (a provider's legal
name, a DPO's note) starting with `=` is never a formula.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment

from auditor.errors import ConfigError
from auditor.files import write_private
from auditor.register.entries import RegisterDoc, Sheet

FORMATS = ("xlsx", "ods", "md", "html")


def _rows(doc: RegisterDoc, sheet: Sheet, first: bool) -> list[list[str]]:
    """What a spreadsheet tab holds, top to bottom."""
    top: list[list[str]] = [[sheet.title]]
    if first:
        top += [[k, v] for k, v in doc.meta] + [[n] for n in sheet.notes] + [[]]
    elif sheet.notes:
        top += [[n] for n in sheet.notes] + [[]]
    return [*top, sheet.header, *sheet.rows]


def xlsx(doc: RegisterDoc) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    for index, sheet in enumerate(doc.sheets):
        tab = book.create_sheet(sheet.name[:31])
        for values in _rows(doc, sheet, index == 0):
            tab.append(values)
            for cell in tab[tab.max_row]:
                cell.data_type = "s"  # text, never a formula
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        tab["A1"].font = Font(bold=True, size=13)
        header_row = len(_rows(doc, sheet, index == 0)) - len(sheet.rows)
        for cell in tab[header_row]:
            cell.font = Font(bold=True)
        for column in range(1, len(sheet.header) + 1):
            tab.column_dimensions[tab.cell(row=header_row, column=column).column_letter].width = 36
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ods(doc: RegisterDoc) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    book = OpenDocumentSpreadsheet()
    for index, sheet in enumerate(doc.sheets):
        table = Table(name=sheet.name[:31])
        for values in _rows(doc, sheet, index == 0):
            row = TableRow()
            for value in values:
                cell = TableCell(valuetype="string")  # text, never a formula
                for line in str(value).split("\n"):
                    cell.addElement(P(text=line))
                row.addElement(cell)
            table.addElement(row)
        book.spreadsheet.addElement(table)
    out = io.BytesIO()
    book.write(out)
    return out.getvalue()


def _md_cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>") or " "


def markdown(doc: RegisterDoc) -> bytes:
    lines = [f"# {doc.title}", ""]
    lines += [f"- **{_md_cell(k)}**: {_md_cell(v)}" for k, v in doc.meta if v] + [""]
    for sheet in doc.sheets:
        lines += [f"## {_md_cell(sheet.title)}", ""] + [f"> {_md_cell(n)}" for n in sheet.notes]
        lines += ["", "| " + " | ".join(map(_md_cell, sheet.header)) + " |",
                  "|" + "---|" * len(sheet.header)]
        lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in sheet.rows] + [""]
    return "\n".join(lines).encode("utf-8")


_HTML = Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="{{ doc.lang }}"><head><meta charset="utf-8"><title>{{ doc.title }}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #999;padding:.3em;vertical-align:top;font-size:.85em}th{background:#eee}
.note{background:#fff4d6;padding:.5em}</style></head><body>
<h1>{{ doc.title }}</h1><dl>{% for k, v in doc.meta if v %}<dt>{{ k }}</dt><dd>{{ v }}</dd>{% endfor %}</dl>
{% for sheet in doc.sheets %}<h2>{{ sheet.title }}</h2>{% for n in sheet.notes %}<p class="note">{{ n }}</p>
{% endfor %}<table><tr>{% for h in sheet.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in sheet.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endfor %}</body></html>
""")


def html(doc: RegisterDoc) -> bytes:
    return _HTML.render(doc=doc).encode("utf-8")


WRITERS: dict[str, Callable[[RegisterDoc], bytes]] = {"xlsx": xlsx, "ods": ods, "md": markdown, "html": html}


def check_format(fmt: str) -> str:
    if fmt not in WRITERS:
        raise ConfigError(f"unknown register format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def write(doc: RegisterDoc, fmt: str, out: Path) -> Path:
    return write_private(out, WRITERS[check_format(fmt)](doc))
