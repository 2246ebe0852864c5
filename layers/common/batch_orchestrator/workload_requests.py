"""Reading a workload's ``requests:``: other applications may start its runs, by event or message (``run_requests``).

    requests: {environment: [CUSTOMER_ID, REGION]}   # the variables a request may set; requests: {} for none

``workload_parser`` calls ``request_policy`` for an entry that has ``requests``, file and runtime form alike. As in the
rest of the parser, every problem is reported through ``problem(field, message)``, one line each. The rules:

* each name is one a workload's own ``environment`` may use (``environment_name_problem``: not AWS_BATCH*, nor a name
  the orchestrator sets, REQUEST_* included), at most once, and at most ``MAX_REQUEST_VARIABLES`` of them;
* a request starts a run with no upload, so a workload whose runs need one cannot take requests: an array over the
  uploaded object or its directory (``array: {manifest: upload | upload-directory}``), or a coalescing workload;
* a pipeline's later step cannot either: a run starts at its pipeline's first workload, which may take them.

A workload with a value in its own ``environment`` keeps it unless a request sets that name: the request's value wins
(containerOverrides replace the job definition's variable of the same name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from batch_orchestrator.workload_fields import FieldReport, environment_name_problem, kind
from batch_orchestrator.workloads import ManifestSource, RequestPolicy

Report = Callable[[str, str], None]  # (field, message)

REQUESTS_KEYS = ("environment",)
MAX_REQUEST_VARIABLES = 20  # our rule: a request is a few parameters; bulk data goes in S3 (REQUEST_OVERRIDES_BUDGET)
_UPLOAD_MANIFESTS = (ManifestSource.UPLOAD.value, ManifestSource.UPLOAD_DIRECTORY.value)


def request_policy(problem: Report, entry: Mapping[Any, Any], *, later_step: bool) -> RequestPolicy | None:
    """The entry's ``requests`` (None when it is wrong: then with its problems reported)."""
    value = entry["requests"]
    if not isinstance(value, Mapping):
        problem("requests", f"must be a mapping such as {{environment: [NAME, ...]}} (or {{}}), got {kind(value)}")
        return None
    report = FieldReport(problem)
    report.unknown_keys(value, REQUESTS_KEYS, "requests")
    names = _names(report, value.get("environment", []))
    _combinations(report, entry, later_step=later_step)
    return None if report.failed or names is None else RequestPolicy(environment=names)


def _names(report: Report, value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        report("requests.environment", f"must be a list of variable names, got {kind(value)}")
        return None
    if len(value) > MAX_REQUEST_VARIABLES:
        report("requests.environment", f"names {len(value)} variables, more than {MAX_REQUEST_VARIABLES}")
        return None
    names: list[str] = []
    for index, name in enumerate(value):
        field = f"requests.environment[{index}]"
        message = environment_name_problem(name)
        if message:
            report(field, f"{name!r} {message}" if isinstance(name, str) else message)
        elif name in names:
            report(field, f"{name} is listed twice")
        else:
            names.append(name)
    return tuple(names) if len(names) == len(value) else None


def _combinations(report: Report, entry: Mapping[Any, Any], *, later_step: bool) -> None:
    """One problem line for the first field requests cannot go with."""
    array = entry.get("array")
    if isinstance(array, Mapping) and array.get("manifest") in _UPLOAD_MANIFESTS:
        report(
            "requests",
            f"cannot go with array: {{manifest: {array['manifest']}}}: its runs read an upload, and a request has none",
        )
    elif entry.get("coalesce") is not None:
        report("requests", "cannot go with coalesce: only uploads are coalesced, a request is not one")
    elif later_step:
        report("requests", "a pipeline's later step cannot take requests: set it on the pipeline's first workload")
