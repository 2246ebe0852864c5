"""One cold start, in a fresh interpreter laid out like a Lambda execution environment.

Run by bench/cold_start.py as ``python -S -P _child_cold_start.py <module> <request.json> <result.json>``
inside a ``bench.lambda_sandbox.Sandbox``: imports the handler module (the init phase), then calls
``handler(event, context)`` once (the first invocation) and writes the timings as JSON. Only the
standard library is used before the handler's own imports, and ``json`` is loaded before the clock
starts, as the runtime's bootstrap has it loaded already.
"""

import json
import sys
import time
import uuid

START = time.perf_counter()
START_CPU = time.process_time()

import importlib  # noqa: E402 - after the clock starts, like everything the handler imports


class Context:
    """The Lambda context attributes handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_seconds: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/21/[$LATEST]" + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _foreign_modules(allowed_roots: list[str]) -> list[str]:
    """Modules loaded from outside the sandbox and the standard library (there must be none)."""
    foreign = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if (
            name not in ("__main__", "__mp_main__")
            and path
            and not any(path.startswith(root) for root in allowed_roots)
        ):
            foreign.append(f"{name}: {path}")
    return foreign


def main() -> None:
    module_name, request_path, result_path = sys.argv[1:4]
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    module = importlib.import_module(module_name)
    imported = time.perf_counter()
    imported_cpu = time.process_time()
    result = None
    if request.get("event") is not None:
        context = Context(request["function_name"], request.get("timeout_seconds", 60))
        result = module.handler(request["event"], context)
    done = time.perf_counter()
    done_cpu = time.process_time()
    figures = {
        "import_ms": (imported - START) * 1000,
        "first_event_ms": (done - imported) * 1000,
        "total_ms": (done - START) * 1000,
        "import_cpu_ms": (imported_cpu - START_CPU) * 1000,
        "total_cpu_ms": (done_cpu - START_CPU) * 1000,
        "modules": len(sys.modules),
        "foreign_modules": _foreign_modules([request["sandbox_root"], sys.base_prefix]),
        "result": result,
    }
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, default=str)


if __name__ == "__main__":
    main()
