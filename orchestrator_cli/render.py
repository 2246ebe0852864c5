"""Output: aligned plain-text tables for people, JSON (``--json``) for scripts. Nothing else prints."""

from __future__ import annotations

import json
import sys
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


def shorten(text: str, limit: int) -> str:
    """Cut the middle out, keeping the end (file names end in what tells them apart)."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return text[:limit]
    keep = limit - 1
    tail = keep // 2
    return text[: keep - tail] + "…" + text[len(text) - tail :]


def one_line(text: str) -> str:
    return " ".join(text.split())


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Left-aligned columns two spaces apart; None shows as "-"; the last column is not padded."""
    cells = [[str(h) for h in headers]] + [["-" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append(_GAP.join(padded).rstrip())
    return lines


def fields(rows: Iterable[tuple[str, Any]], *, indent: int = 0) -> list[str]:
    """``label  value`` lines with the values aligned; rows whose value is None are left out."""
    present = [(label, str(value)) for label, value in rows if value is not None and value != ""]
    if not present:
        return []
    width = max(len(label) for label, _ in present)
    return [" " * indent + f"{label:<{width}}{_GAP}{value}" for label, value in present]


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
