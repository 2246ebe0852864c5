"""Integration fixtures: the stack of template.yaml itself, created inside moto for each test.

``stack``, ``stack_parameters`` and the autouse ``aws_env`` live in tests/support/stack.py (its docstring
shows how to override template parameters); the helpers that play the pipeline on it in
tests/support/runs.py.
"""

from tests.support.stack import aws_env, stack, stack_parameters

__all__ = ["aws_env", "stack", "stack_parameters"]  # fixtures, re-exported for pytest
