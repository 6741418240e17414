"""Cells of the files people open in a spreadsheet: stored values that cannot become formulas.

A value starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) is run as a formula when a CSV file is opened in Excel or
LibreOffice: ``=HYPERLINK(...)`` in a client's remarks would become a live
link in whoever opens the export (CSV injection). As OWASP advises, such a CSV
cell gets a leading apostrophe, which spreadsheets show as "text"; the import
takes it off again, so an exported file imports back unchanged. XLSX cells are
written as typed text instead, which keeps the value exact. JSON is never
touched: it is not opened as a spreadsheet.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def csv_cell(value):
    """The value as a CSV cell: a text that could run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return QUOTE + value
    return value


def from_csv_cell(text: str) -> str:
    """The value a CSV cell written by :func:`csv_cell` stands for."""
    if text.startswith(QUOTE) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def xlsx_row(sheet, values) -> list:
    """Cells of a write-only XLSX sheet; text is typed as text, so it is never read as a formula."""
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            cell.data_type = "s"
        cells.append(cell)
    return cells
