"""The operator CLI (`orchestrator`): inspect and act on a deployed stack's runs from a terminal.

Not deployed: it runs on an operator's machine (or in CI) against a deployed stack, or against the
local stack through ``--endpoint-url``. It reads everything it needs from the stack's outputs.
"""
