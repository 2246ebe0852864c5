"""workload_table: workloads.yaml rendered into template.yaml's regions, and `make validate`'s checks.

The invariants under test: the committed template.yaml is what rendering workloads.yaml gives (the stale
check passes on the repository); the empty table renders the stack of before workloads; rendering only
touches the regions, is idempotent and reversible; a rendered two-workload table holds each workload's
resources, permissions and environment, and the functions read back exactly the table it came from (the
layer's workload_table.json, whose digest the environment holds); the check refuses bad tables with one line
per problem, a stale template or layer table, environments over budget and stacks over CloudFormation's
resource quota, and the number of workloads costs no environment.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.workload_table_file import DIGEST_VARIABLE, digest
from batch_orchestrator.workloads import KeyRule, Schedule, Size, Workload, WorkloadTable, parse_workloads
from tests.conformance.workload_stacks import TWO_WORKLOADS
from workload_table import render_template
from workload_table.__main__ import main
from workload_table.budget import BudgetError, environment_sizes
from workload_table.check import (
    STALE,
    STALE_TABLE,
    budget_problem,
    check,
    effective_parameters,
    samconfig_overrides,
    schedule_name_problems,
)
from workload_table.regions import RegionError, find_regions, replace_regions
from workload_table.render import render
from workload_table.yaml_text import load_cloudformation

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "template.yaml").read_text(encoding="utf-8")
LAYER_TABLE = ROOT / "layers" / "common" / "batch_orchestrator" / "workload_table.json"
STACK_TAIL = {
    "StackTail": {
        "Fn::Select": [4, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]
    }
}
EMPTY = "workloads: []\n"


def rendered(table: str = TWO_WORKLOADS) -> dict[str, Any]:
    return load_cloudformation(render_template(TEMPLATE, table))


def submit_job_resources(template: dict[str, Any], function: str) -> list[Any]:
    (statement,) = [
        s for s in template["Resources"][function]["Properties"]["Policies"][0]["Statement"] if s["Sid"] == "SubmitJob"
    ]
    return list(statement["Resource"])


def table_entries(table: str) -> list[dict[str, Any]]:
    """The layer's workload_table.json rendered from ``table``, as the functions load it."""
    entries: list[dict[str, Any]] = json.loads(render(TEMPLATE, table).table_text)
    return entries


# ------------------------------------------------------------------------------------------ the repository
def test_template_yaml_is_rendered_from_workloads_yaml() -> None:
    # Given the repository's files, and each deployment of its samconfig.toml
    workloads = (ROOT / "workloads.yaml").read_text(encoding="utf-8")
    for environment in ("default", "dev", "prod"):
        overrides = samconfig_overrides(ROOT / "samconfig.toml", environment)

        # When make validate checks them, with the layer's table
        result = check(TEMPLATE, workloads, table_text=LAYER_TABLE.read_text(encoding="utf-8"), overrides=overrides)

        # Then nothing is wrong, and template.yaml and the layer's table are up to date
        assert result.problems == (), environment
        assert "template.yaml and workload_table.json are up to date" in result.summary


def test_the_empty_table_renders_the_stack_of_before_workloads() -> None:
    # Given the template rendered from an empty table
    text = render_template(TEMPLATE, EMPTY)
    template = load_cloudformation(text)

    # Then it is template.yaml itself, with no workload resource and today's filter, permissions and rule
    assert text == TEMPLATE
    assert [r for r in template["Resources"] if r.startswith(("Workload", "Spot"))] == []
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert (variables[DIGEST_VARIABLE], variables["SPOT_JOB_QUEUE_ARN"]) == (digest(b"[]\n"), "")
    assert "WORKLOAD_JOB_DEFINITION_PREFIX" not in variables
    assert render(TEMPLATE, EMPTY).table_text == LAYER_TABLE.read_text(encoding="utf-8") == "[]\n"
    (notification,) = template["Resources"]["InputBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"
    ]
    assert notification["Filter"]["Fn::If"][0] == "HasInputPrefix"
    assert "HasInputPrefix" in template["Conditions"]
    for function in ("SubmitJobsFunction", "SubmitScheduledFunction"):
        assert submit_job_resources(template, function)[:2] == [{"Ref": "JobQueue"}, {"Ref": "JobDefinition"}]
        assert len(submit_job_resources(template, function)) == 3
    rule = template["Resources"]["TrackJobsFunction"]["Properties"]["Events"]["BatchEvents"]["Properties"]
    assert rule["Pattern"]["detail"]["jobQueue"] == [{"Ref": "JobQueue"}]


def test_rendering_touches_only_the_regions_and_can_be_undone() -> None:
    # Given the template rendered from two workloads
    two = render_template(TEMPLATE, TWO_WORKLOADS)

    # Then rendering again changes nothing, and rendering the empty table gives template.yaml back
    assert render_template(two, TWO_WORKLOADS) == two
    assert render_template(two, EMPTY) == TEMPLATE

    # and the lines outside the regions are template.yaml's, in order
    def outside(text: str) -> list[str]:
        lines = text.splitlines()
        inside = {i for r in find_regions(lines) for i in range(r.begin + 1, r.end)}
        return [line for i, line in enumerate(lines) if i not in inside]

    assert outside(two) == outside(TEMPLATE)
    assert two != TEMPLATE


# ------------------------------------------------------------------------------------------ two workloads
def test_two_workloads_render_their_resources_permissions_and_environment() -> None:
    # Given the template rendered from a Spot workload with a ladder and a workload with a schedule
    template = rendered()
    resources = template["Resources"]

    # Then each workload has its job definition, named for the stack and the workload: step 0 of its ladder,
    # its timeout, image, command, environment
    images = resources["WorkloadImagesJobDefinition"]["Properties"]
    assert images["JobDefinitionName"] == {"Fn::Sub": ["batch-orch-${StackTail}-images", STACK_TAIL]}
    container = images["ContainerProperties"]
    assert container["ResourceRequirements"] == [{"Type": "VCPU", "Value": "0.5"}, {"Type": "MEMORY", "Value": "1024"}]
    assert images["Timeout"] == {"AttemptDurationSeconds": 600}
    assert container["Command"] == ["python3", "-c", "print('thumbnail')"]
    with_output, without_output = container["Environment"]["Fn::If"][1:]
    assert [e["Name"] for e in with_output] == ["OUTPUT_BUCKET", "OUTPUT_PREFIX", "THUMBNAIL_WIDTH"]
    assert without_output == [{"Name": "THUMBNAIL_WIDTH", "Value": "320"}]
    # and a Spot interruption EXITs on the Spot workload (the orchestrator counts it), RETRYs elsewhere
    spot_rule = images["RetryStrategy"]["EvaluateOnExit"][0]
    assert spot_rule == {"Action": "EXIT", "OnStatusReason": "Your Spot Task was interrupted*"}
    reports = resources["WorkloadReportsJobDefinition"]["Properties"]
    assert reports["RetryStrategy"]["EvaluateOnExit"][0]["Action"] == "RETRY"
    assert reports["ContainerProperties"]["Environment"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    # and the Spot queue exists, every function may submit to it and the tracker hears it
    spot = resources["SpotComputeEnvironment"]["Properties"]["ComputeResources"]
    assert spot["Type"] == "FARGATE_SPOT"
    assert resources["SpotJobQueue"]["Properties"]["ComputeEnvironmentOrder"][0]["ComputeEnvironment"] == {
        "Ref": "SpotComputeEnvironment"
    }
    # and the functions may submit to it and to this stack's workload job definitions (one entry for all)
    pattern = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-definition/batch-orch-${StackTail}-*"
    for function in ("SubmitJobsFunction", "SubmitScheduledFunction"):
        assert submit_job_resources(template, function)[3:] == [
            {"Ref": "SpotJobQueue"},
            {"Fn::Sub": [pattern, STACK_TAIL]},
        ]
    # and the functions learn the names' prefix and the table's digest, never the table itself
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["WORKLOAD_JOB_DEFINITION_PREFIX"] == {"Fn::Sub": ["batch-orch-${StackTail}-", STACK_TAIL]}
    assert variables[DIGEST_VARIABLE] == digest(render(TEMPLATE, TWO_WORKLOADS).table_text.encode())
    assert "WORKLOADS" not in variables
    rule = resources["TrackJobsFunction"]["Properties"]["Events"]["BatchEvents"]["Properties"]
    assert rule["Pattern"]["detail"]["jobQueue"] == [{"Ref": "JobQueue"}, {"Ref": "SpotJobQueue"}]
    # and every key reaches the queue (routing is in code), the jobs may read their own keys
    (notification,) = resources["InputBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert "Filter" not in notification
    assert "HasInputPrefix" not in template["Conditions"]
    (read,) = [
        s
        for s in resources["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ReadInput"
    ]
    assert read["Resource"][1:] == [
        {"Fn::Sub": "${InputBucket.Arn}/images/*.jpg"},
        {"Fn::Sub": "${InputBucket.Arn}/reports/*"},
    ]


def test_a_workload_schedule_fires_submit_scheduled_through_its_own_role() -> None:
    # Given the rendered schedule of workload reports
    template = rendered()
    schedule = template["Resources"]["WorkloadReportsNightlySchedule"]["Properties"]

    # Then it has its name, expression, time zone, and tells submit_scheduled its workload and schedule
    assert schedule["Name"]["Fn::Sub"][0] == "batch-orch-${StackTail}-reports-nightly"
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 2 * * ? *)",
        "Asia/Tokyo",
    )
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["SubmitScheduledFunction", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["WorkloadSchedulerRole", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDLQ", "Arn"]}}
    payload = json.loads(target["Input"]["Fn::Sub"][0])
    assert payload["scheduleName"] == "batch-orch-${StackTail}-reports-nightly"
    assert (payload["workload"], payload["schedule"]) == ("reports", "nightly")
    assert payload["scheduledTime"] == "<aws.scheduler.scheduled-time>"
    role = template["Resources"]["WorkloadSchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_functions_read_back_the_table_it_was_rendered_from() -> None:
    # Given the table of the file, and the layer's table rendered from it
    from_file = parse_workloads(yaml.safe_load(TWO_WORKLOADS)["workloads"], source="workloads.yaml", runtime=False)

    # When the functions parse it at cold start
    runtime = parse_workloads(table_entries(TWO_WORKLOADS), source="workload_table.json", runtime=True)

    # Then it is the file's table, without the container fields (job definitions are found by name)
    assert [w.name for w in runtime] == ["images", "reports"]
    assert list(runtime) == [copy.replace(w, container=None) for w in from_file]


HOSTILE = """\
workloads:
  - name: hostile
    match: {prefix: "in${AWS::Region}/", suffix: ".csv"}
    schedules:
      - name: hourly
        expression: rate(1 hour)
        timezone: UTC
        payload: {"quote'": "it's \\"${x}\\" \\\\ é 日本", "n": [1, 2.5, null, true]}
    image: "public.ecr.aws/docker/library/python:3.13-slim"
    command: [sh, -c, "echo \\"${HOME}\\" 'x' \\\\"]
    vcpu: 0.25
    memory: 512
    timeout_seconds: 60
    environment: {GREETING: "it's \\"${AWS::Region}\\" é", EMPTY: "", ODD: "tab\\tnel\\x85ls\\u2028 \\U0001F600"}
"""


def test_values_that_look_like_yaml_json_or_sub_syntax_arrive_unchanged() -> None:
    # Given a table whose values hold quotes, backslashes, ${...}, non-ASCII text
    (written,) = parse_workloads(yaml.safe_load(HOSTILE)["workloads"], source="workloads.yaml", runtime=False)
    template = rendered(HOSTILE)

    # Then the job definition holds them exactly (plain strings: nothing substitutes them)
    container = template["Resources"]["WorkloadHostileJobDefinition"]["Properties"]["ContainerProperties"]
    assert written.container is not None
    assert container["Command"] == list(written.container.command)
    assert {e["Name"]: e["Value"] for e in container["Environment"]["Fn::If"][2]} == dict(written.container.environment)
    # and the layer's table gives the same payload and rule back
    (read,) = parse_workloads(table_entries(HOSTILE), source="workload_table.json", runtime=True)
    assert read.schedules == written.schedules
    assert read.key_rule == KeyRule("in${AWS::Region}/", ".csv")
    read_input = template["Resources"]["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert read_input["Resource"][1] == {"Fn::Sub": "${InputBucket.Arn}/in${!AWS::Region}/*.csv"}


# ------------------------------------------------------------------------------------------ make validate
def test_a_bad_table_gives_one_line_per_problem() -> None:
    # Given a table with three problems in two workloads
    table = TWO_WORKLOADS.replace("memory: 2048", "memory: 100").replace("timeout_seconds: 600", "timeout: 600")

    # When make validate checks it
    result = check(render_template(TEMPLATE, TWO_WORKLOADS), table)

    # Then each problem is a line naming the file, the workload and the field
    assert not result.ok
    assert any(line.startswith("workloads.yaml: reports: memory: ") for line in result.problems), result.problems
    assert any(line.startswith("workloads.yaml: images: timeout: ") for line in result.problems), result.problems
    assert any(line.startswith("workloads.yaml: images: timeout_seconds: ") for line in result.problems)
    assert all("\n" not in line for line in result.problems)


@pytest.mark.parametrize(("template_from", "table"), [(EMPTY, TWO_WORKLOADS), (TWO_WORKLOADS, EMPTY)])
def test_a_stale_template_fails_the_check(template_from: str, table: str) -> None:
    # Given a template rendered from another table than the file's
    template = render_template(TEMPLATE, template_from)

    # Then the check says so, and says what to run
    assert check(template, table).problems == (STALE,)
    assert check(render_template(TEMPLATE, table), table).ok


@pytest.mark.parametrize(("table_from", "table"), [(EMPTY, TWO_WORKLOADS), (TWO_WORKLOADS, EMPTY)])
def test_a_stale_layer_table_fails_the_check(table_from: str, table: str) -> None:
    # Given an up-to-date template, and a layer table rendered from another table than the file's
    template = render_template(TEMPLATE, table)
    stale = render(TEMPLATE, table_from).table_text

    # Then the check says so, and says what to run
    assert check(template, table, table_text=stale).problems == (STALE_TABLE,)
    assert check(template, table, table_text=render(TEMPLATE, table).table_text).ok


def _many_workloads(count: int, payload_bytes: int, *, schedules: bool = True) -> str:
    payload = "x" * payload_bytes
    schedule = f"""    schedules: [{{name: s, expression: rate(1 day), timezone: UTC, payload: {{text: "{payload}"}}}}]
"""
    entries = [
        f"""  - name: w{i}
{schedule if schedules else f"    match: {{prefix: w{i}/}}\n"}    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "1"
    memory: 2048
    timeout_seconds: 600
"""
        for i in range(count)
    ]
    return "workloads:\n" + "".join(entries)


def test_the_number_of_workloads_costs_no_environment() -> None:
    # Given three workloads with big payloads (which once filled the 4 KB environment), and a hundred workloads
    big, many = _many_workloads(3, 900), _many_workloads(100, 10)

    # When each is checked against the template rendered from it
    results = [check(render_template(TEMPLATE, table), table) for table in (EMPTY, big, many)]

    # Then all pass, with one environment size whatever the number of workloads (the table is in the layer;
    # a table with workloads adds only the job definitions' name prefix)
    assert [r.problems for r in results] == [(), (), ()]
    sizes = [int(re.search(r"is (\d+) of 4096 bytes", r.summary).group(1)) for r in results]  # type: ignore[union-attr]
    assert sizes[1] == sizes[2] < sizes[0] + 100, [r.summary for r in results]
    assert "100 workload(s)" in results[2].summary


def test_an_environment_over_lambdas_budget_fails_the_check() -> None:
    # Given the rendered template, and the same with a variable that fills most of the 4 KB every function shares
    template = load_cloudformation(render_template(TEMPLATE, _many_workloads(2, 10)))
    parameters = effective_parameters(template, {})
    within = environment_sizes(template, parameters)
    template["Globals"]["Function"]["Environment"]["Variables"]["BULK"] = "x" * 3000
    over = environment_sizes(template, parameters)

    # Then only the second is over budget, in every function, on a line that names it, the size and the budget
    assert not [size.function for size in within if size.over_budget]
    assert len([size for size in over if size.over_budget]) == 5  # one per function
    assert all(
        re.search(
            r"Function's environment is \d+ bytes .* over Lambda's 4096-byte budget .*; largest: BULK 3004", str(p)
        )
        for p in (budget_problem(size, source="workloads.yaml") for size in over)
    )


def test_a_stack_over_cloudformations_resource_quota_fails_the_check() -> None:
    # Given tables of 410 and 430 workloads (the default stack declares 83 resources once SAM has transformed it)
    within, over = _many_workloads(410, 1, schedules=False), _many_workloads(430, 1, schedules=False)

    # When each is checked against the template rendered from it
    results = {len(t): check(render_template(TEMPLATE, t), t) for t in (within, over)}

    # Then only the second is refused, on one line naming the count and CloudFormation's quota
    assert results[len(within)].ok, results[len(within)].problems
    (line,) = results[len(over)].problems
    assert re.search(r"declares 513 resources after the SAM transform, over CloudFormation's 500", line), line


def test_a_rule_ambiguous_with_the_deployments_input_prefix_fails_the_check() -> None:
    # Given a workload whose rule is the default workload's InputPrefix (incoming/ by default)
    table = TWO_WORKLOADS.replace("match: {prefix: reports/}", "match: {prefix: incoming/}")
    template = render_template(TEMPLATE, table)

    # When it is checked for the template's defaults, and for a deployment with another InputPrefix
    default = check(template, table)
    other = check(template, table, overrides={"InputPrefix": "uploads/", "OutputPrefix": "results/"})

    # Then only the first is ambiguous, and the line names the workload and its rule
    assert len(default.problems) == 1
    assert default.problems[0].startswith("workloads.yaml: reports: match: ambiguous with the default workload")
    assert other.ok, other.problems
    under_output = check(template, table, overrides={"InputPrefix": "uploads/", "OutputPrefix": "incoming/"})
    assert [p.split(": ")[1:3] for p in under_output.problems] == [["reports", "match.prefix"]]


def test_schedule_names_over_the_schedulers_limit_fail_the_check() -> None:
    # Given a workload built by hand with names longer than the file allows, and one at the file's limits
    retry = RetryPolicy(ExitCodeSet(), max_attempts=1, base_delay_seconds=0, max_delay_seconds=0)

    def workload(name: str, schedule: str) -> Workload:
        return Workload(name, None, (Schedule(schedule, "rate(1 day)", "UTC"),), (Size("1", 2048),), 60, retry)

    too_long = WorkloadTable((workload("w" * 30, "s" * 20),))
    longest = WorkloadTable((workload("w" * 20, "s" * 16),))

    # Then only the first is refused, naming EventBridge Scheduler's limit
    (problem,) = schedule_name_problems(too_long, source="workloads.yaml")
    assert "over EventBridge Scheduler's 64" in str(problem)
    assert schedule_name_problems(longest, source="workloads.yaml") == []


def test_the_budget_refuses_what_it_cannot_bound() -> None:
    # Given a function environment holding an attribute the budget does not know
    template = load_cloudformation(TEMPLATE)
    template["Globals"]["Function"]["Environment"]["Variables"]["ODD"] = {"Fn::GetAtt": ["RunsTable", "StreamArn"]}

    # Then it raises, naming it, rather than guessing a length
    with pytest.raises(BudgetError, match=r"RunsTable\.StreamArn"):
        environment_sizes(template, {})


def test_samconfig_overrides_are_read_as_sam_reads_them(tmp_path: Path) -> None:
    # Given the repository's samconfig.toml, and one with quoted values and the list form
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[a.deploy.parameters]\nparameter_overrides = "InputPrefix=\\"in put/\\" LogLevel=DEBUG"\n'
        '[b.deploy.parameters]\nparameter_overrides = ["OutputPrefix=", "JobVcpu=1"]\n',
        encoding="utf-8",
    )

    # Then each environment's overrides come back as name -> value
    assert samconfig_overrides(ROOT / "samconfig.toml", "dev")["UseFargateSpot"] == "true"
    assert samconfig_overrides(config, "a") == {"InputPrefix": "in put/", "LogLevel": "DEBUG"}
    assert samconfig_overrides(config, "b") == {"OutputPrefix": "", "JobVcpu": "1"}
    with pytest.raises(ValueError, match="no environment 'c'"):
        samconfig_overrides(config, "c")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a\n# >>> workloads: outputs\nb\n", "never closed"),
        ("# <<< workloads: outputs\n", "without its begin marker"),
        ("# >>> workloads: outputs\n# >>> workloads: schedules\n", "starts inside"),
        ("  # >>> workloads: outputs\n# <<< workloads: outputs\n", "another indentation"),
        ("# >>> workloads: Outputs\n", "does not parse"),
        ("# >>> workloads: nonsense\n# <<< workloads: nonsense\n", "unknown ['nonsense']"),
    ],
)
def test_broken_markers_are_refused(text: str, error: str) -> None:
    # Given a template whose markers are broken, or name a region the renderer does not know
    # Then rendering refuses it, saying what is wrong
    with pytest.raises(RegionError, match=re.escape(error)):
        replace_regions(text, {"outputs": [], "schedules": []} if "nonsense" not in text else {})


def test_the_commands_exit_1_with_the_problems_and_0_when_all_is_well(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a copy of the template and a two-workload file
    template, workloads, table = tmp_path / "template.yaml", tmp_path / "workloads.yaml", tmp_path / "table.json"
    shutil.copy(ROOT / "template.yaml", template)
    shutil.copy(LAYER_TABLE, table)
    workloads.write_text(TWO_WORKLOADS, encoding="utf-8")
    paths = ["--workloads", str(workloads), "--template", str(template), "--table", str(table)]

    # When the template is checked before and after `render`
    stale = main(["check", *paths])
    rendered_now = main(["render", *paths])
    fresh = main(["check", *paths])
    workloads.write_text("workloads: [{name: x}]\n", encoding="utf-8")
    broken = main(["check", *paths])

    # Then the stale and broken checks fail with their lines, render fixes the template and the layer's table
    assert (stale, rendered_now, fresh, broken) == (1, 0, 0, 1)
    assert template.read_text(encoding="utf-8") != TEMPLATE
    assert [w["name"] for w in json.loads(table.read_text(encoding="utf-8"))] == ["images", "reports"]
    errors = capsys.readouterr().err.splitlines()
    assert errors[:2] == [STALE, STALE_TABLE]
    assert errors[2:]
    assert all(line.startswith("workloads.yaml: x: ") for line in errors[2:])


def test_the_worked_example_of_workloads_yaml_validates() -> None:
    # Given the commented example of workloads.yaml, uncommented
    lines = (ROOT / "workloads.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# workloads:")
    example = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        example.append(line[2:])
    table = "\n".join(example) + "\n"

    # Then it renders and passes make validate, with the three workloads it describes
    result = check(render_template(TEMPLATE, table), table)
    assert result.ok, result.problems
    assert "3 workload(s)" in result.summary


@pytest.mark.slow
def test_cfn_lint_passes_on_a_rendered_two_workload_template(tmp_path: Path) -> None:
    # Given the two-workload template (in the repository's directory layout: CodeUri paths resolve)
    path = tmp_path / "template.yaml"
    path.write_text(render_template(TEMPLATE, TWO_WORKLOADS), encoding="utf-8")

    # When cfn-lint checks it, as `make lint-template` checks template.yaml
    completed = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "cfn-lint"), str(path)], capture_output=True, text=True, timeout=300, check=False
    )

    # Then it finds nothing
    assert completed.returncode == 0, completed.stdout + completed.stderr
