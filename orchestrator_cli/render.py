"""Output: aligned plain-text tables for people, JSON (``--json``) for scripts. Nothing else prints.

Text is measured in terminal columns, not characters (``display_width``): an East Asian Wide or
Fullwidth character takes two columns, a combining mark none. Padding and cutting go by columns
and never split a wide character or part a combining mark from its base, so a column of file
names such as ``incoming/売上レポート.csv`` lines up with its ASCII neighbours.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TextIO

_GAP = "  "


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def plain(value: Any) -> Any:
    """``value`` with Decimals, datetimes and sets turned into JSON types (for embedding in output)."""
    return json.loads(json.dumps(value, default=json_default))


# Characters that take no column: combining marks (Mn, Me, e.g. the accent of "é" written as e +
# U+0301), format characters (Cf, e.g. a zero-width space) and control characters (Cc).
_ZERO_WIDTH_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc"})
_WIDE = frozenset({"W", "F"})  # East Asian Wide and Fullwidth: two columns in a terminal
ELLIPSIS = "…"


def char_width(char: str) -> int:
    """Columns one character takes in a terminal: 0, 1 or 2."""
    if unicodedata.category(char) in _ZERO_WIDTH_CATEGORIES:
        return 0
    return 2 if unicodedata.east_asian_width(char) in _WIDE else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (what ``len`` would be if every character took one)."""
    return sum(char_width(char) for char in text)


def _head(text: str, width: int) -> str:
    """The longest start of ``text`` within ``width`` columns; zero-width marks stay with their base."""
    used = 0
    for index, char in enumerate(text):
        used += char_width(char)
        if used > width:
            return text[:index]
    return text


def _tail(text: str, width: int) -> str:
    """The longest end of ``text`` within ``width`` columns that does not start with an orphaned mark."""
    used = 0
    start = len(text)
    for index in range(len(text) - 1, -1, -1):
        used += char_width(text[index])
        if used > width:
            break
        start = index
    while start < len(text) and char_width(text[start]) == 0:  # marks whose base did not fit
        start += 1
    return text[start:]


def truncate(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, ending in "…" when something was cut.

    A wide character that would only half fit is left out, so the result may be one column
    narrower than ``width`` (``fit`` pads it back).
    """
    if display_width(text) <= width:
        return text
    if width < display_width(ELLIPSIS):
        return _head(text, width)
    return _head(text, width - display_width(ELLIPSIS)) + ELLIPSIS


def pad(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` columns (``str.ljust`` by columns; never cuts)."""
    return text + " " * max(0, width - display_width(text))


def fit(text: str, width: int) -> str:
    """``text`` in exactly ``width`` columns: cut with "…" when wider, padded with spaces when narrower."""
    return pad(truncate(text, width), width)


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` columns, cutting the middle out and keeping the end (file names end in what
    tells them apart)."""
    if display_width(text) <= limit:
        return text
    if limit <= display_width(ELLIPSIS):
        return _head(text, limit)
    keep = limit - display_width(ELLIPSIS)
    head = _head(text, keep - keep // 2)
    return head + ELLIPSIS + _tail(text, keep - display_width(head))


def one_line(text: str) -> str:
    return " ".join(text.split())


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Left-aligned columns two spaces apart (by display width); None shows as "-"; the last column is
    not padded."""
    cells = [[str(h) for h in headers]] + [["-" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [pad(cell, widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append(_GAP.join(padded).rstrip())
    return lines


def fields(rows: Iterable[tuple[str, Any]], *, indent: int = 0) -> list[str]:
    """``label  value`` lines with the values aligned; rows whose value is None are left out."""
    present = [(label, str(value)) for label, value in rows if value is not None and value != ""]
    if not present:
        return []
    width = max(display_width(label) for label, _ in present)
    return [" " * indent + pad(label, width) + _GAP + value for label, value in present]


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def short_time(text: str | None) -> str | None:
    """ISO-8601 to the second: ``2026-11-21T10:02:03Z``."""
    moment = parse_iso(text)
    if moment is None:
        return text
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(text: str | None, now: datetime) -> str | None:
    """How long ago, roughly: ``45s``, ``12m``, ``3h``, ``2d``."""
    moment = parse_iso(text)
    if moment is None:
        return None
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def epoch_ms_time(value: Any) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Output:
    """Where a command writes its result: text lines, or one JSON document with ``--json``."""

    def __init__(self, *, json_mode: bool, stream: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout  # looked up late, so pytest's capsys sees it

    def json(self, data: Any) -> None:
        self.stream.write(json.dumps(data, indent=2, default=json_default, ensure_ascii=False) + "\n")

    def lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.stream.write(line + "\n")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
