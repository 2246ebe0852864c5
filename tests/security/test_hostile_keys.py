"""Hostile S3 keys reach the job only as data in its environment, never in a command, and never break its name.

The keys are uploaded for real to the template's input bucket in moto, so they arrive URL-encoded in
real S3 notifications and go through the real submit_jobs handler. Every SubmitJob request is
captured at the botocore client boundary: the key may appear only as the INPUT_KEY environment
value, the request overrides nothing that is executed (no command, no Batch parameters), and the job
name keeps Batch's rules (at most 128 of ``[A-Za-z0-9_-]``, first character alphanumeric). The job
definition's command is a fixed argv without a shell and without Batch parameter placeholders, so
nothing in the environment can become code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_orchestrator.adapters import aws
from batch_orchestrator.ids import job_name_for
from batch_orchestrator.models import SubmitRequest
from batch_orchestrator.submit import job_environment
from batch_orchestrator.submit_messages import parse_submit_message
from emulator import EmulatedStack
from tests.reliability.harness import Function, SubmitQueuePoller, VirtualClock
from tests.support.figures import figure
from tests.support.runs import all_jobs, take_all_bodies, upload_and_take_notifications
from tests.support.runs import job_environment as environment_of

JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
SHELLS = {"sh", "bash", "dash", "zsh", "ash", "ksh", "cmd", "cmd.exe", "powershell", "pwsh"}
HOSTILE_KEYS = [
    "incoming/; rm -rf /",
    "incoming/$(id).csv",
    "incoming/`id`.csv",
    "incoming/${IFS}cat${IFS}/etc/passwd",
    "incoming/../../etc/passwd",
    "incoming/a\x01b\nc\td\x7f e\r.csv",
    "incoming/-rf --no-preserve-root",
    'incoming/O\'Brien "quoted" | tee x > y & z.csv',
    "incoming/%2e%2e%2f+plus and space.csv",
    "incoming/\u202eevil\u200b.csv",
    "incoming/Ref::INPUT_KEY.csv",
    "incoming/" + "k" * (1024 - len("incoming/")),  # 1,024 bytes, the S3 maximum
    "incoming/" + "é" * 507 + "x",  # 1,024 bytes of two-byte characters
]


def test_hostile_keys_reach_the_job_only_as_environment_data(stack: EmulatedStack) -> None:
    # Given the hostile keys uploaded to the input bucket, and every SubmitJob request recorded
    take_all_bodies(stack)
    assert all(len(key.encode()) <= 1024 for key in HOSTILE_KEYS)
    notifications = upload_and_take_notifications(stack, HOSTILE_KEYS)
    requests: list[dict[str, Any]] = []
    aws.submit_client().meta.events.register(
        "before-parameter-build.batch.SubmitJob", lambda params, **_: requests.append(json.loads(json.dumps(params)))
    )
    clock = VirtualClock()
    submit = Function(stack, "SubmitJobsFunction", clock=clock)

    # When submit_jobs handles their notifications
    SubmitQueuePoller(stack, submit, clock).deliver(notifications)
    submit.close()

    # Then one job per key, its environment holding the key byte for byte
    jobs = all_jobs(stack)
    assert sorted(environment_of(job)["INPUT_KEY"] for job in jobs) == sorted(HOSTILE_KEYS)
    assert len(requests) == len(HOSTILE_KEYS)
    for request in requests:
        env = {item["name"]: item["value"] for item in request["containerOverrides"]["environment"]}
        key = env["INPUT_KEY"]
        # and nothing else of the request carries the key or overrides what runs
        assert set(request["containerOverrides"]) == {"environment"}
        assert "parameters" not in request
        others = {k: v for k, v in request.items() if k != "containerOverrides"}
        assert key not in json.dumps(others, ensure_ascii=False)
        assert [v for name, v in env.items() if name != "INPUT_KEY" and key in v] == []
        # and the job name keeps Batch's rules, the run id and attempt first
        assert JOB_NAME.match(request["jobName"]), request["jobName"]
        assert request["jobName"].startswith(f"{env['RUN_ID']}-a1")

    # And the job definition runs a fixed argv: no shell, no Batch parameter placeholder
    (definition,) = stack.client("batch").describe_job_definitions(jobDefinitions=[stack.outputs["JobDefinitionArn"]])[
        "jobDefinitions"
    ]
    command = definition["containerProperties"]["command"]
    assert command[0].rsplit("/", 1)[-1] not in SHELLS
    assert not any("Ref::" in argument for argument in command)
    figure(
        "Security (hostile keys)",
        f"{len(HOSTILE_KEYS)} hostile keys (shell metacharacters, ../, control characters, 1,024 bytes) "
        "-> each only in INPUT_KEY, byte for byte; 0 in a command; every job name valid",
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(name=st.text(min_size=1, max_size=300).filter(lambda text: len(("incoming/" + text).encode()) <= 1024))
def test_any_key_round_trips_through_its_notification_into_the_environment_and_a_valid_job_name(name: str) -> None:
    # Given any key S3 accepts, URL-encoded in its notification the way S3 encodes keys
    key = "incoming/" + name
    body = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "input"},
                    "object": {"key": quote_plus(key, safe="/"), "size": 1, "sequencer": "0A"},
                },
            }
        ]
    }

    # When the submit path reads it
    (request,) = parse_submit_message(json.dumps(body), input_prefix="incoming/")

    # Then the job sees the exact key, and its name stays valid whatever the key holds
    assert isinstance(request, SubmitRequest)
    assert job_environment(request)["INPUT_KEY"] == key
    assert JOB_NAME.match(job_name_for(request.run_id, 1, request.source))
    assert JOB_NAME.match(job_name_for(request.run_id, 10, request.source))


@pytest.mark.parametrize("attempt", [1, 10])
def test_a_job_name_never_exceeds_128_characters(attempt: int) -> None:
    source: Mapping[str, Any] = {"trigger": "s3", "bucket": "b", "key": "incoming/" + "x" * 1015, "sequencer": "01"}
    (request,) = parse_submit_message(
        json.dumps({"kind": "retry", "runId": _run_id(source), "attempt": 2, "source": source}), input_prefix=""
    )
    assert isinstance(request, SubmitRequest)
    name = job_name_for(request.run_id, attempt, request.source)
    assert len(name) == 128
    assert name.startswith(f"{request.run_id}-a{attempt}-")


def _run_id(source: Mapping[str, Any]) -> str:
    from batch_orchestrator.ids import run_id_for
    from batch_orchestrator.models import source_from_dict

    return run_id_for(source_from_dict(dict(source)))
