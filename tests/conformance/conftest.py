"""Conformance fixtures: the requests recorded for the test_request_limits*.py modules (see lifecycles.py)."""

from tests.conformance.lifecycles import lifecycles, recorded

__all__ = ["lifecycles", "recorded"]  # fixtures, re-exported for pytest
