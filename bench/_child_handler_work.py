"""Handler work per item, with AWS replaced by canned responses at botocore's HTTP boundary.

Run by bench/handler_work.py as ``python -S -P _child_handler_work.py <request.json> <result.json>``
inside a ``bench.lambda_sandbox.Sandbox`` (the Lambda layout, tracing on). The handler's botocore
clients get a ``before-send`` hook that answers every request with the canned response for its
operation, so everything up to the wire runs as on Lambda (parameter validation, serialisation,
SigV4 signing, response parsing, X-Ray subsegments, Powertools logs and metrics) and nothing of an
emulator or a network does. After one warm-up invocation, every event is handled ``repeats`` times;
the time per item is the total over the items of one repetition divided by their number.
"""

import cProfile
import io
import json
import pstats
import sys
import time
import uuid
from typing import Any


class Context:
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/21/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class CannedTransport:
    """botocore ``before-send`` hook: a canned HTTP response per operation, counted."""

    def __init__(self, responses: dict[str, Any]) -> None:
        from botocore.awsrequest import AWSResponse

        self._response_class = AWSResponse
        self._responses = responses
        self.calls: dict[str, int] = {}

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] = self.calls.get(operation, 0) + 1
        canned = self._responses[operation]
        headers = {"x-amzn-requestid": str(uuid.uuid4()), "content-type": canned["content_type"]}
        return self._response_class(request.url, canned["status"], headers, _Body(canned["body"].encode()))


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def _by_package(profile: cProfile.Profile, owners: list[tuple[str, str]]) -> dict[str, float]:
    """Share of the profiled time spent in each package's own code (cProfile's tottime): first prefix wins."""
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        owner = next((label for prefix, label in owners if filename.startswith(prefix)), "Python (stdlib, builtins)")
        totals[owner] = totals.get(owner, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return {owner: round(100 * seconds / whole, 1) for owner, seconds in sorted(totals.items(), key=lambda x: -x[1])}


def main() -> None:
    request_path, result_path = sys.argv[1:3]
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    import app  # type: ignore[import-not-found]  # the function's handler module, from the task root (sys.path)

    from batch_orchestrator.adapters import aws

    transport = CannedTransport(request["responses"])
    for client in [aws.client(name) for name in ("dynamodb", "sqs", "sns", "batch")] + [aws.submit_client()]:
        client.meta.events.register_first("before-send", transport)

    events = request["events"]
    context = Context(request["function_name"])
    app.handler(events[0], context)  # warm-up: the cold start is measured elsewhere
    transport.calls.clear()
    wall, cpu = [], []
    for _ in range(request["repeats"]):
        started, started_cpu = time.perf_counter(), time.process_time()
        for event in events:
            response = app.handler(event, context)
            assert response.get("batchItemFailures", []) == [], response
        wall.append((time.perf_counter() - started) * 1e6 / request["items"])
        cpu.append((time.process_time() - started_cpu) * 1e6 / request["items"])
    calls = {name: count / (request["items"] * request["repeats"]) for name, count in transport.calls.items()}

    profile = cProfile.Profile()
    profile.enable()
    for event in events:
        app.handler(event, context)
    profile.disable()
    layer, runtime = request["layer"], request["runtime"]
    owners = [
        (app.__file__, "handler + batch_orchestrator"),
        (layer + "/batch_orchestrator", "handler + batch_orchestrator"),
        (layer + "/aws_lambda_powertools", "Powertools"),
        (layer + "/aws_xray_sdk", "X-Ray SDK + wrapt"),
        (layer + "/wrapt", "X-Ray SDK + wrapt"),
        (runtime + "/botocore", "botocore"),
        (runtime, "urllib3, dateutil, jmespath"),
    ]
    shares = _by_package(profile, owners)

    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"wall_us": wall, "cpu_us": cpu, "calls_per_item": calls, "profile_shares": shares}, handle)


if __name__ == "__main__":
    main()
