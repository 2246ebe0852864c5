"""Batch Orchestrator: the shared package behind every Lambda function of the stack."""
