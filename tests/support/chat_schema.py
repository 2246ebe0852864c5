"""The chat integration's custom-notification schema (events/schemas/chat-notification.json) and a validator."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from tests.support.events import EVENTS_DIR

CHAT_SCHEMA_PATH = EVENTS_DIR / "schemas" / "chat-notification.json"
CHAT_SCHEMA: dict[str, Any] = json.loads(CHAT_SCHEMA_PATH.read_text(encoding="utf-8"))
_VALIDATOR = Draft202012Validator(CHAT_SCHEMA)


def chat_schema_errors(card: Any) -> list[str]:
    """Every way ``card`` breaks the schema, as "path: message" (empty when it validates)."""
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(_VALIDATOR.iter_errors(card), key=lambda error: list(error.absolute_path))
    ]
