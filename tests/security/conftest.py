"""Security suite: the transformed template, hostile input keys, checkov (see tests/support/stack.py)."""

from tests.support.logs import logs
from tests.support.stack import aws_env, stack, stack_parameters

__all__ = ["aws_env", "logs", "stack", "stack_parameters"]  # fixtures, re-exported for pytest
