"""The stack's workload table as the layer carries it: ``workload_table.json``, beside this module.

Why a file in the layer and not an environment variable: Lambda holds at most 4 KB of environment
per function, which held about five workloads. In the layer the table costs no environment at all,
and nothing in it depends on what CloudFormation creates: each workload's job definition is named
``<WORKLOAD_JOB_DEFINITION_PREFIX><workload>`` by the template (``batch-orch-<StackTail>-<workload>``),
so a function finds it from the workload's name. A stack then holds as many workloads as
CloudFormation's own limits allow (``make validate`` counts them).

``make template`` (``python -m workload_table render``) writes this file and template.yaml's regions from
workloads.yaml in one step, and writes the file's ``digest`` into the functions' environment
(WORKLOAD_TABLE_DIGEST). The invariant: a function runs a table only if it is the one its template was
rendered with. A layer built from another table (a ``sam build`` of a stale checkout, a layer published
by hand) fails at cold start with a ConfigError naming both digests, rather than routing uploads with a
table that the stack's job definitions and schedules do not match.

SIMULATED seam: WORKLOAD_TABLE_FILE names another file. Only the emulator sets it: a stack it renders in
memory from another table shares this process's copy of the layer. The template never sets it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from batch_orchestrator.errors import ConfigError

FILE_NAME = "workload_table.json"
PACKAGED = Path(__file__).with_name(FILE_NAME)
DIGEST_VARIABLE = "WORKLOAD_TABLE_DIGEST"
FILE_VARIABLE = "WORKLOAD_TABLE_FILE"
DIGEST_LENGTH = 16  # hex characters of SHA-256: enough to tell two tables apart, short in the environment


def digest(data: bytes) -> str:
    """The table file's fingerprint, as the template's WORKLOAD_TABLE_DIGEST holds it."""
    return hashlib.sha256(data).hexdigest()[:DIGEST_LENGTH]


def file_text(entries: list[dict[str, object]]) -> str:
    """The file's text for these runtime entries (``workloads.to_runtime_json``): one workload a line."""
    lines = ",\n".join(json.dumps(entry, separators=(",", ":"), ensure_ascii=True) for entry in entries)
    return f"[\n{lines}\n]\n" if entries else "[]\n"


def read_entries(env: Mapping[str, str]) -> object:
    """The table's JSON, after checking it is the table the template was rendered with."""
    path = Path(env[FILE_VARIABLE]) if env.get(FILE_VARIABLE) else PACKAGED
    expected = env.get(DIGEST_VARIABLE, "").strip()
    if not expected:
        raise ConfigError(f"environment variable {DIGEST_VARIABLE} is required")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the workload table {path} cannot be read ({exc}): the layer was not built by sam build"
        ) from exc
    found = digest(data)
    if found != expected:
        raise ConfigError(
            f"the layer's workload table ({path.name}, digest {found}) is not the one this stack's template was "
            f"rendered with ({DIGEST_VARIABLE}={expected}): run `make build` (it renders workloads.yaml into "
            "template.yaml and the layer together) and deploy again"
        )
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"the workload table {path.name} is not JSON: {exc}") from exc
