"""Files handed to people: CSV a spreadsheet opens safely, and download names (RFC 6266)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection);
# tab and carriage return also start one in some of them.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet.

    Text that a spreadsheet would run as a formula is prefixed with an apostrophe,
    which shows it as written. Numbers (a negative km² change) are left as numbers.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV (comma-separated, one header row) with every text cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return out.getvalue()


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """`attachment` (or `inline`) with the file's name, for every browser (RFC 6266).

    `filename` carries an ASCII fallback with nothing that could end the quoted
    string or the header (quotes, backslashes, control characters become `_`);
    `filename*` carries the exact name, percent-encoded UTF-8 (RFC 8187).
    """
    fallback = "".join(
        c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in filename
    ).strip()
    encoded = quote(filename, safe="")
    return f"{disposition}; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{encoded}"
