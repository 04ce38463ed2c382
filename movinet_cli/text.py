"""Text as people and spreadsheets read it, below every stage: ``printable`` for a terminal,
``percent`` for a probability, ``format_size`` and ``parse_size`` for a number of bytes, and CSV records whose cells are safe in a spreadsheet.

CSV cells are made safe for spreadsheets (OWASP's advice on CSV injection): a text cell
that starts with ``= + - @``, a tab or a line break gets an apostrophe in front, which
spreadsheets show as text instead of running a formula (and so does one that starts with an
apostrophe before such a character or another apostrophe). ``read_cell`` takes it off again,
so every value reads back exactly as it was, and files written before the escaping read as
they did.
"""

from __future__ import annotations

import csv
import io
import re

# Starts of a cell that a spreadsheet would run as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# After an apostrophe, what makes it an escape (the apostrophe itself too, so reading is exact).
_ESCAPED = (*FORMULA_STARTS, "'")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to show on a terminal: control characters (escape sequences that could
    retitle or rewrite the terminal, line breaks inside a one-line message) as ``\\x1b``,
    ``\\n`` and so on. For what people read, not for machine-readable output."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def percent(probability: float) -> str:
    """A probability in [0, 1] as people read it: whole percent from 1% on ("42%"), one
    decimal below ("0.3%"), so that a small probability never reads as "0%"."""
    if probability <= 0:
        return "0%"
    if probability < 0.0005:
        return "<0.1%"
    return f"{probability:.1%}" if probability < 0.0095 else f"{probability:.0%}"


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def format_size(size: float) -> str:
    """Bytes as people read them, in powers of 1024: "512 B", "1.5 MiB", "2.0 GiB"."""
    for unit in _UNITS[:-1]:
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} {_UNITS[-1]}"


def parse_size(text: str) -> int:
    """A number of bytes as people write it: "2G", "500M", "1.5GiB", "100k", "4096" (K, M,
    G, T in powers of 1024, any case, "B" or "iB" after them optional); ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (write it as 500M, 2G or a number of bytes)")
    return int(float(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " "))


def safe_cell(value):
    """``value`` as a spreadsheet shows it as text: an apostrophe before a formula start."""
    if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or (value[:1] == "'" and value[1:].startswith(_ESCAPED))):
        return "'" + value
    return value


def read_cell(cell: str) -> str:
    """The value that ``safe_cell`` wrote as ``cell``."""
    return cell[1:] if cell[:1] == "'" and cell[1:].startswith(_ESCAPED) else cell


def csv_line(values: list) -> str:
    """One CSV record ending in ``\\n``, its cells made safe by ``safe_cell``. A cell with a
    carriage return is quoted too (Python's csv quotes only the line terminator's characters,
    and a bare CR in a file name would otherwise read back as a line break)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(value) for value in values])
    return buffer.getvalue()[:-2] + "\n"


def csv_text(rows: list[dict], header: list[str], with_header: bool) -> str:
    """CSV records for ``rows`` (dicts keyed by ``header``), the header line first if asked."""
    lines = [csv_line(header)] if with_header else []
    lines += [csv_line([row.get(column, "") for column in header]) for row in rows]
    return "".join(lines)


def read_csv(text: str) -> tuple[list[str], list[list[str]], str]:
    """Parses what ``csv_text`` wrote: ``(header, records, cut)``, the values as they were
    before ``safe_cell``; blank lines are skipped. A last record that does not end with a
    line break (a crash while writing) is left out and returned as ``cut``, the text it had.
    Raises csv.Error, naming the line, for text that is not CSV."""
    # Quotes come in pairs in complete CSV (doubled inside a quoted cell): an odd count means
    # the text ends inside a quoted cell.
    complete = not text or (text.endswith("\n") and text.count('"') % 2 == 0)
    cut = ""
    if not complete:
        cut_at = _last_record_start(text)
        text, cut = text[:cut_at], text[cut_at:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = [[read_cell(cell) for cell in record] for record in reader if record]
    except csv.Error as error:  # a cell over csv.field_size_limit(), say: where it is
        raise csv.Error(f"line {reader.line_num}: {error}") from None
    return (records[0] if records else []), records[1:], cut


def _last_record_start(text: str) -> int:
    """Where the last record of ``text`` starts: after the last line break outside quotes."""
    end = len(text)
    while (end := text.rfind("\n", 0, end)) >= 0:
        if text.count('"', 0, end) % 2 == 0:
            return end + 1
    return 0
