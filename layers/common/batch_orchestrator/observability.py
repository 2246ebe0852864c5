"""The one Logger, Metrics and Tracer of every function (Powertools), configured by POWERTOOLS_* variables.

Metrics keep their stack-wide names and dimensions (service), which the alarms read; ``count`` adds the
per-workload breakdown beside them: the same metric with the dimensions service and Workload, written as
its own EMF line (a log line, no AWS call).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger()
metrics = Metrics()
# Only botocore: the AWS calls are all the functions make. Tracer's default patches every library the
# X-Ray SDK knows (sqlite3, httplib, requests, ...), importing each one it finds at every cold start.
tracer = Tracer(patch_modules=("botocore",))

WORKLOAD_DIMENSION = "Workload"


def count(name: str, *, workload: str | None, value: float = 1) -> None:
    """Count ``value`` of ``name`` stack-wide, and for ``workload`` when the count belongs to one."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if workload is not None:
        with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
            metric.add_dimension(name=WORKLOAD_DIMENSION, value=workload)


__all__ = ["WORKLOAD_DIMENSION", "MetricUnit", "count", "logger", "metrics", "tracer"]
