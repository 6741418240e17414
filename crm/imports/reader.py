"""Reading an uploaded table (CSV or XLSX) into headers and rows of text, with clear refusals."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from crm.spreadsheet import from_csv_cell

EMPTY_MESSAGE = _l("The file is empty.")
TOO_LARGE_MESSAGE = _l("The file is larger than %(max)d MB; split it into smaller files.")
ENCODING_MESSAGE = _l("The file is not UTF-8 text. Save it as “CSV UTF-8” (or as XLSX) and try again.")
ONE_COLUMN_MESSAGE = _l("Only one column was found: separate the columns with a semicolon, a comma or a tab.")
NO_ROWS_MESSAGE = _l("The file has a header row but no clients.")
XLSX_MESSAGE = _l("The file is not a readable XLSX workbook.")
DUPLICATE_HEADER_MESSAGE = _l("Two columns are both called “%(name)s”; give each column its own name.")
TOO_MANY_ROWS_MESSAGE = _l("The file has more than %(max)d rows; split it into smaller files.")

MAX_ROWS = 100_000
DELIMITERS = ";,\t|"


class ImportFileError(ValueError):
    """A file that cannot be read as a table; the message says why, in the user's language."""


@dataclass
class Table:
    headers: list[str]
    rows: list[dict[str, str]]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _table(raw_rows) -> Table:
    raw_rows = [row for row in raw_rows if any(_cell(cell) for cell in row)]
    if not raw_rows:
        raise ImportFileError(str(EMPTY_MESSAGE))
    headers = [_cell(name) or f"#{number}" for number, name in enumerate(raw_rows[0], start=1)]
    if len(headers) < 2:
        raise ImportFileError(str(ONE_COLUMN_MESSAGE))
    seen = set()
    for name in headers:
        if name.lower() in seen:
            raise ImportFileError(str(DUPLICATE_HEADER_MESSAGE % {"name": name[:50]}))
        seen.add(name.lower())
    body = raw_rows[1:]
    if not body:
        raise ImportFileError(str(NO_ROWS_MESSAGE))
    if len(body) > MAX_ROWS:
        raise ImportFileError(str(TOO_MANY_ROWS_MESSAGE % {"max": MAX_ROWS}))
    return Table(headers, [dict(zip(headers, (_cell(cell) for cell in row))) for row in body])


def _xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
        workbook.close()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError):
        raise ImportFileError(str(XLSX_MESSAGE)) from None
    return _table(rows)


def _csv(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(str(ENCODING_MESSAGE)) from None
    if not text.strip():
        raise ImportFileError(str(EMPTY_MESSAGE))
    first_line = text.splitlines()[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in DELIMITERS}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        raise ImportFileError(str(ONE_COLUMN_MESSAGE))
    try:
        rows = [[from_csv_cell(cell) for cell in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
        return _table(rows)
    except csv.Error:
        raise ImportFileError(str(ONE_COLUMN_MESSAGE)) from None


def read_table(filename: str, data: bytes, max_bytes: int) -> Table:
    """The file's header row and rows; ImportFileError says what is wrong with it."""
    if len(data) > max_bytes:
        raise ImportFileError(str(TOO_LARGE_MESSAGE % {"max": max_bytes // (1024 * 1024)}))
    if not data.strip():
        raise ImportFileError(str(EMPTY_MESSAGE))
    if filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return _xlsx(data)
    return _csv(data)
