"""`orchestrator runs list --workload` and the sizes `runs show` prints, against the moto stack of template.yaml.

The runs start through the real submit function; the attributes the workloads slice adds to a run
(``workload``, the attempt's ``vcpu``/``memoryMib``, ``sizeStep``, ``capacity``, ``spotInterruptions``)
are written onto the items directly, as the functions write them, so these tests read what an
operator will find whichever workload table the stack was deployed with.
"""

from __future__ import annotations

import json
from typing import Any

from batch_orchestrator.adapters.run_items import (
    CAPACITY,
    MEMORY_MIB,
    SIZE_STEP,
    SPOT_INTERRUPTIONS,
    VCPU,
    WORKLOAD,
    from_attribute_values,
    to_attribute_values,
)
from emulator import EmulatedStack
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner, finish_attempt, runs_table, start_run

OOM = "OutOfMemoryError: Container killed due to memory usage"
# What the functions write since runs record their workload; an item written before has none of them.
WORKLOAD_ATTRIBUTES = (WORKLOAD, SIZE_STEP, CAPACITY, SPOT_INTERRUPTIONS, VCPU, MEMORY_MIB)


def amend_run(
    stack: EmulatedStack,
    run_id: str,
    *,
    history: list[dict[str, Any]] | None = None,
    remove: tuple[str, ...] = (),
    **attributes: Any,
) -> None:
    """Set ``attributes`` on the run's item, merge each of ``history`` into the history entry at its index, and
    remove the attributes named in ``remove`` from the item and from every history entry."""
    dynamodb = stack.client("dynamodb")
    table = runs_table(stack)
    item = from_attribute_values(dynamodb.get_item(TableName=table, Key={"runId": {"S": run_id}})["Item"])
    for record in (item, *item.get("history", [])):
        for name in remove:
            record.pop(name, None)
    item.update(attributes)
    for index, extra in enumerate(history or []):
        item["history"][index].update(extra)
    dynamodb.put_item(TableName=table, Item=to_attribute_values(item))


def attempt_rows(output: str) -> list[list[str]]:
    """The whitespace-split header and rows of `runs show`'s attempts table (not the log links under it)."""
    block = output.split("\nAttempts\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.split() for line in block.splitlines()]
    return [lines[0], *(line for line in lines[1:] if line and line[0].isdigit())]


def field(output: str, label: str) -> str | None:
    """The value `runs show` prints after ``label`` in its run fields; None when the field is left out."""
    for line in output.split("\n\n", 1)[0].splitlines():
        if line.startswith(f"  {label}  "):
            return line[len(label) + 2 :].strip()
    return None


# -------------------------------------------------------------------------------------------- list
def test_runs_list_shows_each_runs_workload_and_filters_by_it(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a run of the thumbnails workload, one recorded as the default's, and one from before runs
    # recorded their workload (a failed one, so the Scan path is filtered too)
    thumbs = start_run(stack, "incoming/cat.jpg")
    amend_run(stack, thumbs, workload="thumbnails")
    recorded_default = start_run(stack, "incoming/report.csv")
    amend_run(stack, recorded_default, workload="default")
    old = start_run(stack, "incoming/old.csv")
    finish_attempt(stack, old, "FAILED", exit_code=2)
    amend_run(stack, old, remove=WORKLOAD_ATTRIBUTES)

    # When every run is listed, then each workload's
    everything = cli("runs", "list", "--status", "all", stack=stack)
    only_thumbs = cli("runs", "list", "--status", "all", "--workload", "thumbnails", stack=stack)
    only_default = cli("--json", "runs", "list", "--status", "all", "--workload", "default", stack=stack)

    # Then the table has a WORKLOAD column, absent reads as default, and the filter keeps one workload's runs
    assert everything.code == ExitCode.OK, everything.err
    header, *rows = everything.out.splitlines()[:4]
    assert header.split() == ["RUN", "ID", "STATUS", "ATTEMPT", "WORKLOAD", "INPUT", "EXIT", "UPDATED"]
    assert {row.split()[0]: row.split()[3] for row in rows} == {
        thumbs: "thumbnails",
        recorded_default: "default",
        old: "default",
    }
    assert only_thumbs.code == ExitCode.OK, only_thumbs.err
    assert thumbs in only_thumbs.out
    assert recorded_default not in only_thumbs.out
    assert old not in only_thumbs.out
    document = only_default.json()
    assert sorted(run["runId"] for run in document["runs"]) == sorted([recorded_default, old])
    assert {run["workload"] for run in document["runs"]} == {"default"}
    assert document["workload"] == "default"


def test_runs_list_of_a_workload_without_runs_says_so(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a run of the default workload only
    start_run(stack, "incoming/a.csv")

    # When the runs of another workload are listed
    result = cli("runs", "list", "--workload", "reports", stack=stack)

    # Then none are, and the line names the workload
    assert result.code == ExitCode.OK, result.err
    assert result.out.startswith("No runs of workload reports (")


def test_runs_list_refuses_a_name_no_workload_can_have(stack: EmulatedStack, cli: CliRunner) -> None:
    result = cli("runs", "list", "--workload", "Thumb_Nails", stack=stack)

    assert result.code == ExitCode.USAGE
    assert "'Thumb_Nails' is not a workload name" in result.err


# -------------------------------------------------------------------------------------------- show
def test_runs_show_prints_the_workload_and_the_size_of_each_attempt(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a thumbnails run whose first attempt died of OOM at 2048 MiB and whose second, a ladder step up,
    # is running on Spot after one interruption
    run_id = start_run(stack, "incoming/big.jpg")
    finish_attempt(stack, run_id, "FAILED", exit_code=137, reason=OOM)
    amend_run(
        stack,
        run_id,
        workload="thumbnails",
        vcpu="1",
        memoryMib=4096,
        sizeStep=1,
        capacity="spot",
        spotInterruptions=1,
        history=[{"vcpu": "1", "memoryMib": 2048, "capacity": "on-demand"}],
    )

    # When it is shown, as text and as JSON
    text = cli("runs", "show", run_id, stack=stack)
    document = cli("--json", "runs", "show", run_id, stack=stack).json()

    # Then the run's workload, size and capacity are fields, and the attempt's size and capacity are columns
    assert text.code == ExitCode.OK, text.err
    assert field(text.out, "Workload") == "thumbnails"
    assert field(text.out, "Size") == "1 vCPU, 4096 MiB (memory ladder step 1)"
    assert field(text.out, "Capacity") == "spot (1 Spot interruption so far)"
    header, first = attempt_rows(text.out)
    assert header[:7] == ["#", "JOB", "ID", "STATUS", "EXIT", "SIZE", "CAPACITY"]
    assert first[2:8] == ["FAILED", "137", "1", "vCPU,", "2048", "MiB"]
    assert first[8] == "on-demand"
    assert document["workload"] == "thumbnails"
    assert (document["vcpu"], document["memoryMib"], document["sizeStep"]) == ("1", 4096, 1)
    assert document["history"][0]["memoryMib"] == 2048


def test_runs_show_of_a_run_from_before_workloads_reads_as_the_default_workload(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given a run whose item has no workload, no size and no capacity (written before they were recorded)
    run_id = start_run(stack, "incoming/old.csv")
    finish_attempt(stack, run_id, "FAILED", exit_code=2)
    amend_run(stack, run_id, remove=WORKLOAD_ATTRIBUTES)  # as the functions of the previous version left it

    # When it is shown
    text = cli("runs", "show", run_id, stack=stack)
    document = cli("--json", "runs", "show", run_id, stack=stack).json()

    # Then it is the default workload's; its size is unknown ("-"), and no capacity column is shown
    assert text.code == ExitCode.OK, text.err
    assert field(text.out, "Workload") == "default"
    assert field(text.out, "Size") is None
    assert field(text.out, "Capacity") is None
    header, first = attempt_rows(text.out)
    assert "CAPACITY" not in header
    assert first[2:5] == ["FAILED", "2", "-"]
    assert document["workload"] == "default"


# ------------------------------------------------------------------------------------------- retry
def test_a_manual_retry_asks_for_the_runs_own_workload_step_and_capacity(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a failed run recorded as the thumbnails workload's, on ladder step 1, moved On-Demand after one
    # Spot interruption
    run_id = start_run(stack, "incoming/retry-thumbnail.jpg")
    finish_attempt(stack, run_id, "FAILED", exit_code=2)
    amend_run(stack, run_id, workload="thumbnails", sizeStep=1, capacity="on-demand", spotInterruptions=1)

    # When the operator retries it
    result = cli("runs", "retry", run_id, stack=stack)

    # Then the request on the SubmitQueue asks for the next attempt as the run's workload, step and capacity:
    # without them the submit path would run it as the default workload's first step
    assert result.code == ExitCode.OK, result.err
    sqs = stack.client("sqs")
    received = sqs.receive_message(QueueUrl=stack.outputs["SubmitQueueUrl"], MaxNumberOfMessages=10)
    bodies = [json.loads(message["Body"]) for message in received.get("Messages", [])]
    request = next(body for body in bodies if body.get("runId") == run_id)
    assert (request["kind"], request["attempt"]) == ("retry", 2)
    assert (request["workload"], request["sizeStep"], request["capacity"], request["spotInterruptions"]) == (
        "thumbnails",
        1,
        "on-demand",
        1,
    )
