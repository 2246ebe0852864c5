"""The sample events of events/ (what `sam local invoke -e` uses), and where the repository is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the files `sam local invoke -e` uses), parsed afresh each call.

    A fresh copy per call lets a test change its event without leaking into the next test.
    """
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return data
