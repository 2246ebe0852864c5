"""Success notifications per workload: ``notify: {on_success: true}`` in workloads.yaml, read by the parser and
rendered into the SuccessNotifications rule (the conformance tests evaluate the rendered permissions)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from batch_orchestrator.workloads import WorkloadTableError, parse_workloads, to_runtime_json
from emulator.template import load_template, render_workloads
from tests.support.events import EVENTS_DIR, REPO_ROOT, load_event

BASE = {
    "name": "thumbnails",
    "match": {"prefix": "images/"},
    "image": "public.ecr.aws/docker/library/python:3.13-slim",
    "vcpu": "1",
    "memory": 2048,
    "timeout_seconds": 900,
}
T = "workloads.yaml: thumbnails: "


def problems(**fields: Any) -> list[str]:
    with pytest.raises(WorkloadTableError) as raised:
        parse_workloads([{**BASE, **fields}], source="workloads.yaml", runtime=False)
    return [str(p) for p in raised.value.problems]


def test_a_workload_opts_in_and_keeps_it_in_the_runtime_table() -> None:
    (workload,) = parse_workloads([{**BASE, "notify": {"on_success": True}}], source="workloads.yaml", runtime=False)
    assert workload.notify_on_success is True
    (again,) = parse_workloads([to_runtime_json(workload)], source="workload_table.json", runtime=True)
    assert again.notify_on_success is True
    (plain,) = parse_workloads([BASE], source="workloads.yaml", runtime=False)
    assert plain.notify_on_success is False
    assert "notify" not in to_runtime_json(plain)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("yes", "notify: must be a mapping such as {on_success: true}, got 'yes'"),
        ({"on_succes": True}, "notify.on_succes: unknown key; did you mean 'on_success'?"),
        ({"on_success": "true"}, "notify.on_success: must be true or false, got 'true'"),
    ],
)
def test_a_wrong_notify_is_one_line_naming_its_field(value: Any, line: str) -> None:
    assert problems(notify=value) == [T + line]


def test_a_pipelines_later_step_cannot_notify() -> None:
    later = {**BASE, "name": "aggregate", "notify": {"on_success": True}}
    del later["match"]
    with pytest.raises(WorkloadTableError) as raised:
        parse_workloads([{**BASE, "then": "aggregate"}, later], source="workloads.yaml", runtime=False)
    assert [str(p) for p in raised.value.problems] == [
        "workloads.yaml: aggregate: notify: a pipeline's later step cannot notify: set it on the pipeline's first "
        "workload"
    ]


def _rule(workloads_yaml: str) -> dict[str, Any]:
    rendered = render_workloads(workloads_yaml)
    template = load_template(REPO_ROOT / "template.yaml", text=rendered.template_text)
    rule: dict[str, Any] = template["Resources"]["SuccessNotifications"]
    return rule


def test_the_rule_matches_the_opted_in_workloads_and_exists_without_a_condition() -> None:
    # Given a table where one of two workloads opts in
    table = """workloads:
  - {name: thumbnails, match: {prefix: images/}, image: x, vcpu: "1", memory: 2048, timeout_seconds: 900,
      notify: {on_success: true}}
  - {name: reports, match: {prefix: reports/}, image: x, vcpu: "1", memory: 2048, timeout_seconds: 900}
"""
    rule = _rule(table)

    # Then the rule always exists and lists that workload (and default, with NotifyOnSuccess)
    assert "Condition" not in rule
    assert rule["Properties"]["EventPattern"]["detail"]["workload"] == {
        "Fn::If": ["DefaultNotifiesOnSuccess", ["default", "thumbnails"], ["thumbnails"]]
    }


def test_without_an_opted_in_workload_only_notify_on_success_creates_the_rule() -> None:
    rule = _rule("workloads: []\n")
    assert rule["Condition"] == "SuccessNotificationsOn"
    assert rule["Properties"]["EventPattern"]["detail"]["workload"] == ["default"]


CHAT_SCHEMA = json.loads((EVENTS_DIR / "schemas" / "chat-notification.json").read_text(encoding="utf-8"))


def _card(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the rule's target publishes for ``event``: its InputTransformer applied by moto's EventBridge template
    parser, which the local pipeline uses too (SIMULATED: AWS substitutes each <name> with the value at its path,
    inside the template's text; the documented rule the parser follows)."""
    from moto.events.utils import EventTemplateParser

    transformer = target["InputTransformer"]
    delivered: Any = {**event, "ingestion-time": event["time"]}  # moto's parser reads it; EventBridge adds it
    text: Any = EventTemplateParser.parse(
        input_template=transformer["InputTemplate"], input_paths_map=transformer["InputPathsMap"], event=delivered
    )
    return json.loads(text) if isinstance(text, str) else text


def test_a_success_notification_is_a_chat_card_that_validates() -> None:
    # Given the rule's target and the sample Run Succeeded event, of an upload and of a requested run
    (target,) = _rule("workloads: []\n")["Properties"]["Targets"]
    validator = jsonschema.Draft202012Validator(CHAT_SCHEMA)
    succeeded = load_event("lifecycle_succeeded.json")
    requested = copy.deepcopy(succeeded)
    requested["detail"] |= {"runId": "req-0123456789abcdef01234567", "trigger": "request", "workload": "reports"}
    for event in (succeeded, requested):
        # When EventBridge renders it
        card = _card(target, event)

        # Then it is a custom notification Amazon Q Developer renders (and e-mail shows as JSON), threaded by run
        assert [error.message for error in validator.iter_errors(card)] == []
        detail = event["detail"]
        assert card["content"]["title"] == f"Batch job succeeded: run {detail['runId']}"
        assert card["content"]["description"].startswith(
            f"Run `{detail['runId']}` of workload *{detail['workload']}* ({detail['trigger']}) succeeded at attempt "
            f"{detail['attempt']} of {detail['maxAttempts']}"
        )
        assert card["content"]["description"].endswith(f"\nLogs: {detail['logUrl']}")
        assert (card["id"], card["metadata"]["threadId"]) == (detail["eventKey"], detail["runId"])


def test_a_broken_card_template_is_caught_by_the_schema() -> None:
    (target,) = _rule("workloads: []\n")["Properties"]["Targets"]
    validator = jsonschema.Draft202012Validator(CHAT_SCHEMA)
    event = load_event("lifecycle_succeeded.json")
    for old, new in (('"source": "custom"', '"source": "batch"'), ('"description"', '"text"'), ("1.0", "2.0")):
        broken = copy.deepcopy(target)
        broken["InputTransformer"]["InputTemplate"] = target["InputTransformer"]["InputTemplate"].replace(old, new)
        assert list(validator.iter_errors(_card(broken, event))) != [], old
