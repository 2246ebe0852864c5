"""The one Logger, Metrics and Tracer of every function (Powertools), configured by POWERTOOLS_* variables."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
# Only botocore: the AWS calls are all the functions make. Tracer's default patches every library the
# X-Ray SDK knows (sqlite3, httplib, requests, ...), importing each one it finds at every cold start.
tracer = Tracer(patch_modules=("botocore",))

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
