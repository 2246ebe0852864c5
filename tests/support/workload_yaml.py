"""Pieces of workloads.yaml the tests render stacks with: one home for the sample job's container lines."""

from __future__ import annotations

# The sample job (jobs/sample/job.py; the local job runner maps the image's /app to jobs/sample/) at the smallest
# Fargate size, as the indented lines of a workload entry: append it to "  - name: <name>" (and its match).
SAMPLE_CONTAINER = """
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60"""
