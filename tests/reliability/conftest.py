"""Reliability suite: the stack of template.yaml in moto under injected faults (see harness.py, tests/support/)."""

from tests.support.logs import logs
from tests.support.stack import aws_env, stack, stack_parameters

__all__ = ["aws_env", "logs", "stack", "stack_parameters"]  # fixtures, re-exported for pytest
