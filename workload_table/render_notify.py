"""Success notifications (``notify: {on_success: true}``): the SuccessNotifications rule and the permissions it needs.

The rule matches this stack's Run Succeeded lifecycle events whose ``detail.workload`` opted in, and publishes one
readable line per event to AlertsTopic (an InputTransformer); the topic policy lets events.amazonaws.com publish from
that rule only (aws:SourceArn), the alerts key's policy lets it encrypt for the topic, and EventsDLQ takes what the
rule could not deliver. The default workload opts in with the NotifyOnSuccess parameter, the others in workloads.yaml:

* no workload of the table opts in: everything exists under the condition SuccessNotificationsOn (NotifyOnSuccess),
  the rule matching ``[default]`` (the regions as template.yaml holds them);
* some do: everything exists unconditionally, the rule matching them, and ``default`` too when NotifyOnSuccess
  (condition DefaultNotifiesOnSuccess).
"""

from __future__ import annotations

from collections.abc import Callable

from batch_orchestrator.workloads import DEFAULT_WORKLOAD, WorkloadTable
from workload_table.yaml_text import flow_list

NOTIFY_RULE = "SuccessNotifications"
CONDITION = "SuccessNotificationsOn"  # the rule may not exist: only NotifyOnSuccess decides
DEFAULT_CONDITION = "DefaultNotifiesOnSuccess"  # the rule exists: NotifyOnSuccess adds the default workload
_PARAMETER = '!Equals [!Ref NotifyOnSuccess, "true"]'


def notifying(table: WorkloadTable) -> list[str]:
    return [w.name for w in table.workloads if w.notify_on_success]


def _conditional(table: WorkloadTable, statement: list[str]) -> list[str]:
    """``statement`` (a list item's lines), under !If SuccessNotificationsOn unless the rule always exists."""
    if notifying(table):
        return statement
    body = [("    " + line[2:]) if line.startswith("- ") else ("  " + line) for line in statement]
    body[0] = "  - " + body[0].lstrip()
    return ["- !If", f"  - {CONDITION}", *body, "  - !Ref AWS::NoValue"]


def condition_region(table: WorkloadTable) -> list[str]:
    return [f"{DEFAULT_CONDITION if notifying(table) else CONDITION}: {_PARAMETER}"]


def dead_letters_region(table: WorkloadTable) -> list[str]:
    return _conditional(
        table,
        [
            "- Sid: AllowSuccessNotificationsDeadLetters",
            "  Effect: Allow",
            "  Principal: { Service: events.amazonaws.com }",
            "  Action: sqs:SendMessage",
            "  Resource: !GetAtt EventsDLQ.Arn",
            "  Condition:",
            f'    ArnEquals: {{ "aws:SourceArn": !GetAtt {NOTIFY_RULE}.Arn }}',
        ],
    )


def key_policy_region(table: WorkloadTable) -> list[str]:
    return _conditional(
        table,
        [
            "- Sid: SuccessNotificationsPublishToTheTopic",
            "  Effect: Allow",
            "  Principal: { Service: events.amazonaws.com }",
            "  Action:",
            "    - kms:Decrypt",
            "    - kms:GenerateDataKey",
            '  Resource: "*"',
        ],
    )


def topic_policy_region(table: WorkloadTable) -> list[str]:
    return _conditional(
        table,
        [
            "- Sid: SuccessNotificationsOfThisStack",
            "  Effect: Allow",
            "  Principal: { Service: events.amazonaws.com }",
            "  Action: sns:Publish",
            "  Resource: !Ref AlertsTopic",
            "  Condition:",
            f'    ArnEquals: {{ "aws:SourceArn": !GetAtt {NOTIFY_RULE}.Arn }}',
        ],
    )


# The card's template (events/schemas/chat-notification.json; tests render it with a sample event and validate it).
SUCCESS_CARD = (
    '{"version": "1.0", "source": "custom", "id": "<eventKey>", '
    '"content": {"textType": "client-markdown", '
    '"title": "Batch job succeeded: run <runId>", '
    '"description": "Run `<runId>` of workload *<workload>* (<trigger>) succeeded at attempt <attempt> of '
    '<maxAttempts>, in <duration> s.\\nLogs: <logUrl>", '
    '"keywords": ["<workload>", "succeeded"]}, '
    '"metadata": {"threadId": "<runId>", "summary": "Batch job succeeded: run <runId>", "eventType": "RUN-SUCCEEDED"}}'
)


def rule_region(table: WorkloadTable) -> list[str]:
    names = notifying(table)
    if names:
        workloads = f"!If [{DEFAULT_CONDITION}, {flow_list([DEFAULT_WORKLOAD, *names])}, {flow_list(names)}]"
        condition: list[str] = []
    else:
        workloads, condition = f"[{DEFAULT_WORKLOAD}]", [f"  Condition: {CONDITION}"]
    return [
        f"{NOTIFY_RULE}:",
        "  Type: AWS::Events::Rule",
        *condition,
        "  Properties:",
        '    Description: !Sub "Run Succeeded events of the workloads of ${AWS::StackName} that notify on success"',
        "    EventBusName: !Ref EventBusName",
        "    State: ENABLED",
        "    EventPattern:",
        '      source: [!Sub "batch-orchestrator.${AWS::StackName}"]',
        "      detail-type: [Run Succeeded]",
        "      detail:",
        f"        workload: {workloads}",
        "    Targets:",
        "      - Id: alerts-topic",
        "        Arn: !Ref AlertsTopic",
        "        InputTransformer:",
        "          InputPathsMap:",
        "            runId: $.detail.runId",
        "            workload: $.detail.workload",
        "            attempt: $.detail.attempt",
        "            maxAttempts: $.detail.maxAttempts",
        "            trigger: $.detail.trigger",
        "            duration: $.detail.timings.durationSeconds",
        "            logUrl: $.detail.logUrl",
        "            eventKey: $.detail.eventKey",
        # An Amazon Q Developer custom notification (docs/integration.md): a card in Slack, Teams and Chime, which
        # show no plain-text message; e-mail shows its JSON. Scalars of known characters only (ids, names, numbers,
        # the console URL): EventBridge puts a value into the template's text as it is, so a value holding a quote
        # would not make JSON. The event itself carries the input (subscribe to the bus for it).
        f"          InputTemplate: '{SUCCESS_CARD}'",
        "        RetryPolicy:",
        "          MaximumRetryAttempts: 10",
        "          MaximumEventAgeInSeconds: 3600",
        "        DeadLetterConfig:",
        "          Arn: !GetAtt EventsDLQ.Arn",
    ]


NOTIFY_REGIONS: dict[str, Callable[[WorkloadTable], list[str]]] = {
    "notify-condition": condition_region,
    "notify-dead-letters": dead_letters_region,
    "notify-key-policy": key_policy_region,
    "notify-topic-policy": topic_policy_region,
    "notify-rule": rule_region,
}
