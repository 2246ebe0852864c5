"""Workloads: the kinds of job one stack runs, how an upload is routed to one, and how its attempts are sized.

A workload is a job definition (image, command, size, timeout, environment) with its triggers (an S3
key rule, schedules), its retry policy and its compute (Fargate, Fargate Spot with an On-Demand
fallback, or the stack's managed EC2 compute environment, with GPUs). The stack's parameters describe
the workload named ``default``; ``workloads.yaml`` adds the others (rendered into ``template.yaml`` by
``python -m workload_table render``).

Invariants this module keeps (everything here is pure: no boto3, no ``os.environ``):

* Routing is total and unambiguous. A key goes to the workload whose rule matches it with the
  largest specificity (``len(prefix) + len(suffix)``); ``validate_table`` (and, for the default
  workload's rule, ``WorkloadTable.with_default``) refuses two rules that can match one key with
  equal specificity, so ``route`` never has to break a tie. A key under the output prefix is never
  routed: results the jobs write back must not start runs.
* The same parser reads ``workloads.yaml`` (before deploy: ``make validate``) and the layer's
  ``workload_table.json`` rendered from it (at cold start): a table the functions run is a table that
  validated.
* An array workload's runs are array jobs of a fixed size (2..10,000), or of as many items as the uploaded
  manifest holds (``ArraySpec``); only a workload with a key rule and no schedule reads a manifest.
* A memory ladder's steps are valid Fargate sizes (an ec2 workload's: whole vCPUs, 4 MiB or more), in
  increasing memory; step 0 is the job definition's own size, and attempts move up one step only after
  an out-of-memory failure. Only an ec2 workload has GPUs.

Cold start: importing this module loads no YAML, JSON-schema or time zone code; the parser
(``workload_parser``) is imported by ``parse_workloads`` and reads the tz database only for the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import replace
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from batch_orchestrator.limits import PIPELINE_OUTPUT_PREFIX
from batch_orchestrator.retry_policy import SQS_MAX_DELAY_SECONDS, RetryPolicy

DEFAULT_WORKLOAD = "default"
UNDER_OUTPUT_PREFIX = "under the output prefix"  # NoWorkload.reason of a key the jobs' results live under
NO_RULE_MATCHES = "no workload's key rule matches it"  # NoWorkload.reason of any other unrouted key
# Where the coalescer writes the manifests of coalesced batches, in the input bucket: never routed while some workload
# coalesces (a manifest must not start a run of its own), so it is skipped like a result under the output prefix.
COALESCED_MANIFEST_PREFIX = "batch-orchestrator/coalesced/"
COALESCED_MANIFEST = "a coalesced batch's manifest"  # NoWorkload.reason of a key under COALESCED_MANIFEST_PREFIX

# The retry settings a workload gets for each key its ``retry`` mapping leaves out (workloads.yaml's names).
RETRY_DEFAULTS: Mapping[str, object] = {
    "exit_codes": "",
    "max_attempts": 1,
    "base_delay_seconds": 30,
    "max_delay_seconds": SQS_MAX_DELAY_SECONDS,
    "on_timeout": False,
    "on_no_exit_code": False,
}


# The default of a record's mapping field: records are immutable, so one shared read-only empty mapping serves all.
EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})


class ComputeType(StrEnum):
    FARGATE = "fargate"
    FARGATE_SPOT = "fargate-spot"  # with an On-Demand fallback after ``on_demand_after`` interruptions
    EC2 = "ec2"  # the stack's managed EC2 compute environment (workloads.yaml's ec2_compute): GPUs, big sizes


class Capacity(StrEnum):
    """Where one attempt runs: the stack's On-Demand queue, the Spot queue of a fargate-spot workload, or the
    EC2 queue of an ec2 workload (whose instances are On-Demand or Spot as ``ec2_compute.capacity`` says)."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"
    EC2 = "ec2"


class KeyRule(NamedTuple):
    """An S3 trigger: keys that start with ``prefix`` and end with ``suffix`` (either may be "").

    A key matches when it has both and they do not overlap inside it: ``images/`` + ``.jpg`` matches
    ``images/a.jpg`` but not ``images.jpg`` (too short to hold both).
    """

    prefix: str = ""
    suffix: str = ""

    def matches(self, key: str) -> bool:
        return len(key) >= self.specificity and key.startswith(self.prefix) and key.endswith(self.suffix)

    @property
    def specificity(self) -> int:
        """How many characters of a key the rule pins down; the larger wins."""
        return len(self.prefix) + len(self.suffix)


def ambiguous_key(a: KeyRule, b: KeyRule) -> str | None:
    """A key both rules match with equal specificity, or None when no such key exists.

    Such a key exists exactly when the specificities are equal, one prefix starts with the other and
    one suffix ends with the other: the longer prefix, then anything, then the longer suffix matches
    both (and nothing else can start with two incompatible prefixes or end with two incompatible
    suffixes). ``img/`` (prefix) and ``.jpg`` (suffix) are ambiguous: ``img/example.jpg``.
    """
    if a.specificity != b.specificity:
        return None
    if not (a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)):
        return None
    if not (a.suffix.endswith(b.suffix) or b.suffix.endswith(a.suffix)):
        return None
    return max(a.prefix, b.prefix, key=len) + "example" + max(a.suffix, b.suffix, key=len)


def camel_case(name: str) -> str:
    """``thumb-nails`` -> ``ThumbNails``: what a workload's name contributes to its CloudFormation logical ids.

    Two names with one CamelCase (``a-1`` and ``a1``) would give one logical id: ``validate_table``
    refuses them.
    """
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


class Schedule(NamedTuple):
    """A schedule trigger: an EventBridge Scheduler expression, always with its IANA time zone."""

    name: str  # unique within the workload; the rendered schedule's name is derived from it
    expression: str  # rate(...), cron(...) or at(...)
    timezone: str  # IANA, e.g. Asia/Tokyo; required
    payload: Mapping[str, Any] = EMPTY_MAPPING  # JSON object handed to the job as SCHEDULE_PAYLOAD


class Size(NamedTuple):
    """One size: vCPU as Batch writes it ("0.25", "0.5", "1", ..., "16" on Fargate; a whole number on EC2)
    and memory in MiB."""

    vcpu: str
    memory_mib: int


class Container(NamedTuple):
    """What only the template needs (the functions never see it): rendered into the job definition."""

    image: str
    command: tuple[str, ...]  # () = the image's own CMD
    environment: Mapping[str, str] = EMPTY_MAPPING
    cpu_architecture: str = (
        "X86_64"  # X86_64 | ARM64 (Fargate Spot: X86_64 only; ec2: unused, the instance types decide)
    )


class Ec2Capacity(StrEnum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"


class Ec2Compute(NamedTuple):
    """workloads.yaml's ``ec2_compute``: the one managed EC2 compute environment every ec2 workload runs on.

    Rendered into the template only (Ec2ComputeEnvironment, Ec2JobQueue, the instance role and launch
    template); required exactly when some workload has ``compute: {type: ec2}``.
    """

    instance_types: tuple[str, ...]  # e.g. ("g5.xlarge",) or ("optimal",)
    max_vcpus: int
    min_vcpus: int = 0
    capacity: Ec2Capacity = Ec2Capacity.ON_DEMAND
    spot_bid_percentage: int | None = None  # spot only: the most to pay, as a percentage of the On-Demand price


class ManifestSource(StrEnum):
    """Where an array workload's manifest comes from (``array: {manifest: upload}``)."""

    UPLOAD = "upload"  # the uploaded object itself: a JSON array, or text with one item per non-empty line
    # A pipeline step's: the manifest its previous step wrote (at STEP_MANIFEST_KEY), same format (``workload_steps``).
    PREVIOUS_STEP = "previous-step"
    # The objects beside the upload (its "directory", the upload itself left out: a marker such as _READY), listed by
    # the submit function and written as the run's manifest (``object_manifests``).
    UPLOAD_DIRECTORY = "upload-directory"


@dataclass(frozen=True)
class ArraySpec:
    """``array:`` of a workload: its runs are AWS Batch array jobs, one child per item.

    ``size`` is a fixed number of items (2..10,000); None when ``manifest`` decides it, run by run, from the
    number of items of the manifest (an upload of 1 item runs as a single job). Child ``i`` of a run's first
    attempt processes item ``i``; a retry reruns only the items whose children failed (``array_items``).
    """

    size: int | None = None
    manifest: ManifestSource | None = None

    def __post_init__(self) -> None:
        if (self.size is None) == (self.manifest is None):
            raise ValueError("an array has a fixed size or a manifest, exactly one of them")


class CoalesceSpec(NamedTuple):
    """``coalesce:`` of a workload: its uploads are gathered for up to ``window_seconds`` (the SQS batching window
    of its own queue, MaximumBatchingWindowInSeconds) or ``max_items`` (the mapping's BatchSize) and run as ONE
    array job over a manifest the coalescer writes, one child per distinct upload (``coalesce``)."""

    window_seconds: int
    max_items: int


class RequestPolicy(NamedTuple):
    """``requests:`` of a workload: other applications may start its runs (``run_requests``), setting at most the
    environment variables named here (none: ``requests: {}``); any other name in a request refuses it."""

    environment: tuple[str, ...] = ()


class Workload(NamedTuple):
    name: str
    key_rule: KeyRule | None  # None: not triggered by uploads
    schedules: tuple[Schedule, ...]
    ladder: tuple[Size, ...]  # at least one step; ladder[0] is the job definition's size
    timeout_seconds: int
    retry: RetryPolicy
    compute: ComputeType = ComputeType.FARGATE
    on_demand_after: int = 0  # fargate-spot: Spot interruptions before the next attempt goes On-Demand
    gpus: int = 0  # ec2 only: GPUs reserved for each attempt (resourceRequirements GPU); 0 = none
    # What SubmitJob names: the default's ARN (JOB_DEFINITION_ARN); another workload's name (``with_job_definitions``).
    # "" until then: in workloads.yaml and in the layer's table.
    job_definition: str = ""
    container: Container | None = None  # in workloads.yaml; absent from the runtime table
    array: ArraySpec | None = None  # None: each run is one job
    # A pipeline (``workload_steps``): the workload whose run continues with workload ``then`` once it succeeds.
    then: str | None = None
    coalesce: CoalesceSpec | None = None  # None: each upload is its own run (burst coalescing: ``coalesce``)
    # ``notify: {on_success: true}``: its runs' Run Succeeded events also reach the alerts topic (template.yaml's
    # SuccessNotifications rule; the functions never read it).
    notify_on_success: bool = False
    requests: RequestPolicy | None = None  # None: requests from other applications are refused (``run_requests``)

    def size(self, step: int) -> Size:
        """The size of ladder step ``step`` (0-based); IndexError past the top."""
        return self.ladder[step]

    @property
    def has_ladder(self) -> bool:
        return len(self.ladder) > 1

    def schedule(self, name: str) -> Schedule | None:
        """The workload's schedule called ``name``, if it has one."""
        return next((s for s in self.schedules if s.name == name), None)


class Problem(NamedTuple):
    """One thing wrong with a table, printed as one line: ``workloads.yaml: images: memory: ...``.

    Empty parts are left out: a table-wide problem prints as ``<source>: <field>: <message>``.
    """

    workload: str  # "" for table-wide problems
    field: str  # dotted path, e.g. "retry.max_attempts"
    message: str
    source: str = ""  # where the table came from: "workloads.yaml", "workload_table.json"

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.workload, self.field, self.message) if part)


class WorkloadTableError(ValueError):
    """A table that must not run; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class NoWorkload(NamedTuple):
    """Routing's answer for a key no rule matches: it is recorded as ignored and counted, never dropped silently."""

    key: str
    reason: str  # UNDER_OUTPUT_PREFIX or NO_RULE_MATCHES


def _pipeline_output_problems(workloads: Sequence[Workload], output_prefix: str, source: str) -> list[Problem]:
    """A table with pipelines needs an OutputPrefix (its steps write under it) short enough, in ASCII, for a step's
    four keys under it to fit ECS's overrides (``limits.PIPELINE_OUTPUT_PREFIX``); so does one with an array of the
    objects beside an upload (their listing is kept under it, and its key is in MANIFEST_KEY)."""
    first = next((w for w in workloads if w.then is not None or _lists_directory(w)), None)
    if first is None:
        return []
    what, field = ("a pipeline's steps", "then") if first.then is not None else ("upload-directory arrays", "array")
    budget = PIPELINE_OUTPUT_PREFIX.value
    if not output_prefix:
        message = f"{what} write under the stack's OutputPrefix, which is empty: set OutputPrefix (e.g. results/)"
    elif len(output_prefix) > budget or not output_prefix.isascii():
        message = (
            f"{what} are told keys under OutputPrefix, which must then be at most {budget} ASCII "
            f"characters (ECS's 8,192 characters of overrides), got {len(output_prefix)} characters"
            + ("" if output_prefix.isascii() else ", not all ASCII")
        )
    else:
        return []
    return [Problem(first.name, field, message, source)]


def _lists_directory(workload: Workload) -> bool:
    return workload.array is not None and workload.array.manifest is ManifestSource.UPLOAD_DIRECTORY


def _describe(workload: Workload) -> str:
    if workload.name == DEFAULT_WORKLOAD and workload.key_rule is not None:
        return f"the default workload (InputPrefix {workload.key_rule.prefix!r})"
    return f"workload {workload.name!r}"


def _ambiguities(first: Workload, second: Workload, source: str) -> list[Problem]:
    if first.key_rule is None or second.key_rule is None:
        return []
    key = ambiguous_key(first.key_rule, second.key_rule)
    if key is None:
        return []
    message = (
        f"ambiguous with {_describe(first)}: a key like {key!r} matches both rules equally specifically "
        f"({first.key_rule.specificity} characters each); lengthen one rule's prefix or suffix, or change "
        "them so that no key matches both"
    )
    return [Problem(second.name, "match", message, source)]


class WorkloadTable(NamedTuple):
    """The workloads one stack runs, and the routing of keys to them (see the module docstring)."""

    workloads: tuple[Workload, ...]
    output_prefix: str = ""  # keys under it are never routed; "" = no such prefix (set by with_default)
    # workloads.yaml's ec2_compute block (template only: the functions need just EC2_JOB_QUEUE_ARN); None
    # in the runtime table, and in a file table without ec2 workloads.
    ec2_compute: Ec2Compute | None = None

    def get(self, name: str) -> Workload | None:
        return next((w for w in self.workloads if w.name == name), None)

    def route(self, key: str) -> Workload | NoWorkload:
        """The workload whose key rule matches ``key`` most specifically (see the module docstring).

        Keys under a non-empty ``output_prefix`` are never routed. A validated table has no ties; on a
        table built by hand the first of equally specific matches wins.
        """
        if self.output_prefix and key.startswith(self.output_prefix):
            return NoWorkload(key, UNDER_OUTPUT_PREFIX)
        if key.startswith(COALESCED_MANIFEST_PREFIX) and self.coalescing:
            return NoWorkload(key, COALESCED_MANIFEST)
        best: Workload | None = None
        best_specificity = -1
        for workload in self.workloads:
            rule = workload.key_rule
            if rule is not None and rule.specificity > best_specificity and rule.matches(key):
                best, best_specificity = workload, rule.specificity
        return best if best is not None else NoWorkload(key, NO_RULE_MATCHES)

    @property
    def uses_spot(self) -> bool:
        return any(w.compute is ComputeType.FARGATE_SPOT for w in self.workloads)

    @property
    def uses_ec2(self) -> bool:
        return any(w.compute is ComputeType.EC2 for w in self.workloads)

    @property
    def coalescing(self) -> tuple[Workload, ...]:
        """The workloads whose uploads are coalesced into array jobs (each has its own queue and mapping)."""
        return tuple(w for w in self.workloads if w.coalesce is not None)

    def with_default(self, default: Workload, *, output_prefix: str, source: str = "workloads.yaml") -> WorkloadTable:
        """This table plus the stack's own workload (first), routing nothing under ``output_prefix``.

        What only cold start can check (the default's rule comes from InputPrefix, known at deploy):
        the default is named ``default`` and is the only one so named, its rule is not ambiguous with
        any workload's, no rule matches only keys under the output prefix or, in a table that coalesces, under the
        coalescer's manifests (it would never run), and a table with
        pipelines has an output prefix (where their steps write) of at most PIPELINE_OUTPUT_PREFIX ASCII characters.
        Raises WorkloadTableError listing every problem.
        """
        problems: list[Problem] = []
        if default.name != DEFAULT_WORKLOAD:
            message = f"the stack's own workload must be named {DEFAULT_WORKLOAD!r}"
            problems.append(Problem(default.name, "name", message, source))
        if self.get(DEFAULT_WORKLOAD) is not None:
            problems.append(Problem(DEFAULT_WORKLOAD, "name", "the table already has a workload of this name", source))
        for workload in self.workloads:
            problems += _ambiguities(default, workload, source)
        unrouted = {output_prefix: "the output prefix", COALESCED_MANIFEST_PREFIX: "the coalescer's manifests"}
        if not output_prefix:
            del unrouted[output_prefix]
        if not self.coalescing:
            del unrouted[COALESCED_MANIFEST_PREFIX]
        for workload in (default, *self.workloads):
            rule = workload.key_rule
            for prefix, what in unrouted.items():
                if rule is not None and rule.prefix.startswith(prefix):
                    message = (
                        f"every key the rule matches is under {what} {prefix!r}, where keys are never routed "
                        "(what the stack writes must not start runs)"
                    )
                    problems.append(Problem(workload.name, "match.prefix", message, source))
        problems += _pipeline_output_problems(self.workloads, output_prefix, source)
        if problems:
            raise WorkloadTableError(problems)
        return WorkloadTable((default, *self.workloads), output_prefix=output_prefix, ec2_compute=self.ec2_compute)

    def with_job_definitions(self, prefix: str) -> WorkloadTable:
        """Each workload other than the default on the job definition the template names ``<prefix><name>``.

        SubmitJob takes a name for the latest ACTIVE revision: the one CloudFormation last registered.
        """
        workloads = tuple(
            w if w.name == DEFAULT_WORKLOAD else replace(w, job_definition=f"{prefix}{w.name}") for w in self.workloads
        )
        return WorkloadTable(workloads, output_prefix=self.output_prefix, ec2_compute=self.ec2_compute)


def parse_workloads(data: object, *, source: str, runtime: bool) -> tuple[Workload, ...]:
    """Parse a list of workload mappings (``workloads.yaml``'s ``workloads:``, or the runtime JSON).

    ``runtime=False``: the file's form (container fields required).
    ``runtime=True``: the rendered form the layer carries (container fields absent).
    Raises WorkloadTableError with every problem, each naming the workload and the field.
    """
    from batch_orchestrator.workload_parser import parse  # here, not at the top: the parser imports this module

    return parse(data, source=source, runtime=runtime)


def validate_table(workloads: Sequence[Workload], *, source: str = "workloads.yaml") -> WorkloadTable:
    """Check the table as a whole (unique names, ambiguous key rules, ...); WorkloadTableError lists every problem.

    Per table: names unique and not ``default`` (the stack's parameters describe that one); names,
    and workload-schedule pairs, unique in CamelCase too (they become logical ids and schedule
    names); no two key rules ambiguous. The default workload's rule is checked by
    ``WorkloadTable.with_default``.
    """
    problems: list[Problem] = []
    by_camel: dict[str, str] = {}
    schedule_ids: dict[str, str] = {}
    for index, workload in enumerate(workloads):
        name = workload.name
        camel = camel_case(name)
        if name == DEFAULT_WORKLOAD:
            message = "'default' is the workload the stack's parameters describe; choose another name"
            problems.append(Problem(name, "name", message, source))
        elif camel in by_camel:
            other = by_camel[camel]
            message = (
                "another workload has this name"
                if other == name
                else f"gives the same resource names ({camel}) as workload {other!r}: rename one"
            )
            problems.append(Problem(name, "name", message, source))
        by_camel.setdefault(camel, name)
        for schedule in workload.schedules:
            joined = camel_case(f"{name}-{schedule.name}")
            other = schedule_ids.setdefault(joined, f"{name}/{schedule.name}")
            if other != f"{name}/{schedule.name}":
                message = f"{schedule.name!r} gives the same schedule resource names as {other}: rename one"
                problems.append(Problem(name, "schedules", message, source))
        for earlier in workloads[:index]:
            problems += _ambiguities(earlier, workload, source)
    if problems:
        raise WorkloadTableError(problems)
    return WorkloadTable(tuple(workloads))


def _retry_json(policy: RetryPolicy) -> dict[str, Any]:
    values: dict[str, Any] = {
        "exit_codes": str(policy.retry_exit_codes),
        "max_attempts": policy.max_attempts,
        "base_delay_seconds": policy.base_delay_seconds,
        "max_delay_seconds": policy.max_delay_seconds,
        "on_timeout": policy.retry_on_timeout,
        "on_no_exit_code": policy.retry_on_no_exit_code,
    }
    return {key: value for key, value in values.items() if value != RETRY_DEFAULTS[key]}


def to_runtime_json(workload: Workload) -> dict[str, Any]:
    """The workload as the layer's workload_table.json carries it (compact; no container fields).

    ``parse_workloads([to_runtime_json(w)], runtime=True)`` gives back ``w`` without its container.
    Values equal to their defaults are left out.
    """
    vcpus = {size.vcpu for size in workload.ladder}
    if len(vcpus) != 1:
        raise ValueError(f"workload {workload.name!r}: a memory ladder keeps one vcpu, got {sorted(vcpus)}")
    out: dict[str, Any] = {"name": workload.name}
    rule = workload.key_rule
    if rule is not None:
        out["match"] = {key: value for key, value in (("prefix", rule.prefix), ("suffix", rule.suffix)) if value}
    if workload.schedules:
        out["schedules"] = [
            {"name": s.name, "expression": s.expression, "timezone": s.timezone}
            | ({"payload": dict(s.payload)} if s.payload else {})
            for s in workload.schedules
        ]
    memory = [size.memory_mib for size in workload.ladder]
    out |= {"vcpu": workload.ladder[0].vcpu, "memory": memory if len(memory) > 1 else memory[0]}
    out["timeout_seconds"] = workload.timeout_seconds
    retry = _retry_json(workload.retry)
    if retry:
        out["retry"] = retry
    if workload.compute is ComputeType.FARGATE_SPOT:
        out["compute"] = {"type": workload.compute.value, "on_demand_after": workload.on_demand_after}
    elif workload.compute is ComputeType.EC2:
        out["compute"] = {"type": workload.compute.value}
    if workload.gpus:
        out["gpus"] = workload.gpus
    return out | _composition_json(workload)


def _composition_json(workload: Workload) -> dict[str, Any]:
    """The fields that make a workload's runs arrays, pipelines, coalesced or requested, and its notifications."""
    out: dict[str, Any] = {}
    if workload.array is not None:
        array = workload.array
        out["array"] = {"size": array.size} if array.manifest is None else {"manifest": array.manifest.value}
    if workload.then is not None:
        out["then"] = workload.then
    if workload.coalesce is not None:
        out["coalesce"] = {
            "window_seconds": workload.coalesce.window_seconds,
            "max_items": workload.coalesce.max_items,
        }
    if workload.notify_on_success:
        out["notify"] = {"on_success": True}
    if workload.requests is not None:
        out["requests"] = {"environment": list(workload.requests.environment)}
    return out
