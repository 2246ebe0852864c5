"""The functions' handler modules, imported by path: every one is named ``app``, so none is on sys.path."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.support.events import REPO_ROOT


def load_handler(function: str) -> ModuleType:
    """``functions/<function>/app.py`` as a fresh module of its own name (its caches start empty)."""
    path = REPO_ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"{function}_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
