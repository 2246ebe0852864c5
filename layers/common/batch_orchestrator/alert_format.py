"""How every alert is written: an SNS-valid subject, a body of prose then JSON, typed attributes.

Invariants: a subject is printable ASCII on one line and under SNS's length limit, whatever text it
is built from; a body is the summary, a blank line, JSON_SEPARATOR, then the same data as JSON
(``split_body`` parses it back); free text is clipped so a message stays far below SNS's
256 KiB; no attribute value is empty (SNS refuses those).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batch_orchestrator.ids import JOB_QUEUE_ARN_PART
from batch_orchestrator.limits import SNS_SUBJECT

# SNS Publish: a subject has no line breaks or control characters and is "less than 100
# characters long". Older API references also demand ASCII text starting with a letter, number
# or punctuation mark (the current one says UTF-8); keeping to that stricter rule satisfies both.
SUBJECT_MAX_CHARS = SNS_SUBJECT.max_length

# The body is the summary, a blank line, this line, then the JSON: split on it to parse.
JSON_SEPARATOR = "-" * 72

# Free text (reasons, keys) is clipped so that a message stays far below the SNS limit of
# 256 KiB: at most ~10 fields of 1,000 characters plus 20 history entries, a few tens of KB.
TEXT_LIMIT = 1_000
INPUT_LIMIT = 3_000  # never clip an S3 address: keys reach 1,024 bytes, version IDs about as much

# Characters NFKD leaves alone but that have an obvious ASCII spelling.
_ASCII_SPELLING = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
        "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
        "\u00f0": "d", "\u00d0": "D", "\u00fe": "th", "\u00de": "Th",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Alert:
    """One SNS message; ``attributes`` is already in the shape of Publish's MessageAttributes."""

    subject: str
    message: str
    attributes: dict[str, dict[str, str]]


# --------------------------------------------------------------------------------------------
# Subjects
# --------------------------------------------------------------------------------------------


def to_ascii(text: str) -> str:
    """Transliterate to printable ASCII: accents dropped, dashes and quotes simplified,
    control characters and line breaks turned into spaces, anything else into ``?``."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text.translate(_ASCII_SPELLING)):
        if " " <= ch <= "~":
            out.append(ch)
        elif unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
            continue  # accents after decomposition; zero-width and direction marks
        elif ch.isspace() or unicodedata.category(ch) == "Cc":
            out.append(" ")
        else:
            out.append("?")
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _shorten_middle(text: str, limit: int) -> str:
    """Cut the middle out, keeping the end: file names end in their date and extension."""
    if len(text) <= limit:
        return text
    if limit <= 3:
        return text[:limit]
    keep = limit - 3
    tail = keep // 3
    return text[: keep - tail] + "..." + (text[-tail:] if tail else "")


def sns_subject(text: str) -> str:
    """Make any text a valid SNS subject: printable ASCII, one line, under 100 characters."""
    subject = to_ascii(text) or "Batch Orchestrator alert"
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 3].rstrip() + "..."
    return subject


def subject_around(prefix: str, name: str, suffix: str) -> str:
    """``prefix + name + suffix`` as a subject, shortening only the name to fit."""
    budget = SUBJECT_MAX_CHARS - len(prefix) - len(suffix)
    return sns_subject(prefix + _shorten_middle(to_ascii(name), max(budget, 0)) + suffix)


# --------------------------------------------------------------------------------------------
# Body text
# --------------------------------------------------------------------------------------------


def display(text: str, limit: int = TEXT_LIMIT) -> str:
    """One line of body text: control characters shown as escapes, long text clipped."""
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    if len(shown) > limit:
        return shown[: limit - 1] + "…"
    return shown


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """A JSON field's text, at most ``limit`` characters."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def iso_from_epoch_ms(epoch_ms: int | None) -> str | None:
    """Batch's epoch milliseconds as ISO-8601 UTC to the second."""
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def duration_text(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def span_text(seconds: int) -> str:
    """A duration in whole minutes where it is one ("30 min", "1 h 0 min", "45 s")."""
    return duration_text(seconds).removesuffix(" 0 s")


def queue_name(queue: str) -> str:
    """A job queue as a person reads it: its name, not its ARN."""
    # arn:aws:batch:<region>:<account>:job-queue/<name> -> <name>
    return queue.rsplit("/", 1)[-1] if JOB_QUEUE_ARN_PART in queue else queue


def queue_arn(queue: str) -> str | None:
    return queue if queue.startswith("arn:") else None


def aligned(rows: list[tuple[str, str]], width: int) -> list[str]:
    """``label: value`` lines with the values in one column."""
    # A fixed width per alert type keeps the layout the same whichever optional rows appear.
    return [f"{label + ':':<{width}}{value}" for label, value in rows]


def body(summary: list[str], details: dict[str, Any]) -> str:
    """The message: the summary lines, a blank line, JSON_SEPARATOR, then ``details`` as JSON."""
    data = json.dumps(details, ensure_ascii=False, indent=2, sort_keys=True)
    return "\n".join([*summary, "", JSON_SEPARATOR, data]) + "\n"


def split_body(message: str) -> tuple[str, dict[str, Any]]:
    """A body back as (summary text, JSON data); a message written otherwise is all summary, with no data."""
    summary, separator, data = message.partition(f"\n\n{JSON_SEPARATOR}\n")
    if not separator:
        return message.rstrip("\n"), {}
    try:
        details = json.loads(data)
    except ValueError:
        return summary, {}
    return summary, details if isinstance(details, dict) else {}


def string_attribute(value: str) -> dict[str, str]:
    """A String message attribute; SNS rejects empty attribute values."""
    return {"DataType": "String", "StringValue": value or "unknown"}
