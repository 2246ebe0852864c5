"""A stack rendered with an upload-directory array: submit_jobs may list the bucket's keys and write each run's
listing once, and its job may read the objects beside the upload and the listing; every request is allowed.

Proven, on template.yaml rendered from ``DIRECTORY_WORKLOADS``, resolved as test_workloads.py resolves the two-workload
stack: ListObjectsV2 of an upload's directory (s3:ListBucket with its s3:prefix), the conditional PutObject of the
listing and its GetObject (with the ListBucket that makes a missing one a 404) are allowed for SubmitJobsFunction; the
job role reads the objects beside the upload (the directories the key rule can match, not the marker's suffix alone) and
the listing; mutated templates (the write gone, the job's read of the directory gone) are denied.

Not proven: what test_permissions.py does not prove either; S3's own handling of If-None-Match (the S3 User Guide
documents it; moto implements it, and tests/unit/test_object_manifests.py holds the adapter to the fake).
"""

from __future__ import annotations

from functools import cache

from tests.conformance.requests import all_calls, decide
from tests.conformance.resolve import ResolvedStack, resolve_template, transformed_template
from tests.conformance.workload_stacks import rendered_stack, rendered_template_path, verdicts
from tests.support.workload_yaml import SAMPLE_CONTAINER
from workload_table.names import MANIFEST_READ_POLICY

DIRECTORY_WORKLOADS = f"""\
workloads:
  - name: drops
    match: {{prefix: drops/in, suffix: /_READY}}{SAMPLE_CONTAINER}
    array: {{manifest: upload-directory}}
"""


@cache
def stack() -> ResolvedStack:
    return rendered_stack(workloads_yaml=DIRECTORY_WORKLOADS)


def _job_verdicts(resolved: ResolvedStack, why: str) -> list[tuple[str, bool]]:
    return [
        (resource.arn, decision.allowed)
        for call in all_calls(resolved)
        if call.why == why
        for resource, decision in decide(resolved, call)
    ]


def test_every_request_of_the_directory_stack_is_allowed() -> None:
    calls = all_calls(stack())
    denied = [f"{c.describe(r)}: {d.reason}" for c in calls for r, d in decide(stack(), c) if not d.allowed]
    assert denied == []


def test_submit_jobs_lists_the_directory_and_writes_the_listing_once_per_run() -> None:
    resolved = stack()
    assert [allowed for _, allowed in verdicts(resolved, "SubmitJobsFunction (code)", "s3:PutObject")] == [True]
    (written,) = [arn for arn, _ in verdicts(resolved, "SubmitJobsFunction (code)", "s3:PutObject")]
    assert written.endswith("/drops/objects")
    listed = verdicts(resolved, "SubmitJobsFunction (code)", "s3:ListBucket")
    assert listed
    assert all(allowed for _, allowed in listed)


def test_the_job_reads_the_objects_beside_the_marker_and_the_listing() -> None:
    # the directory lies under "drops/" (the rule's prefix "drops/in" is cut at its last "/")
    (statement,) = [
        s
        for s in stack().resources["JobRole"].properties["Policies"][0]["PolicyDocument"]["Statement"]
        if isinstance(s, dict) and s.get("Sid") == "ReadInput"
    ]
    bucket = stack().get_att("InputBucket", "Arn")
    assert f"{bucket}/drops/*" in statement["Resource"]
    assert [allowed for _, allowed in _job_verdicts(stack(), "read the directory's listing")] == [True]


def test_without_the_write_statement_the_listing_cannot_be_written() -> None:
    template = transformed_template(template_path=rendered_template_path(DIRECTORY_WORKLOADS))
    statements = template["Resources"][MANIFEST_READ_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Sid"] != "WriteDirectoryListings"]
    found = verdicts(resolve_template(template), "SubmitJobsFunction (code)", "s3:PutObject")
    assert [allowed for _, allowed in found] == [False]


def test_without_the_rendered_read_the_job_cannot_read_its_listing() -> None:
    template = transformed_template(template_path=rendered_template_path(DIRECTORY_WORKLOADS))
    (policy,) = template["Resources"]["JobRole"]["Properties"]["Policies"]
    (read,) = [s for s in policy["PolicyDocument"]["Statement"] if isinstance(s, dict) and s.get("Sid") == "ReadInput"]
    read["Resource"] = [entry for entry in read["Resource"] if "objects" not in str(entry)]
    assert [allowed for _, allowed in _job_verdicts(resolve_template(template), "read the directory's listing")] == [
        False
    ]
