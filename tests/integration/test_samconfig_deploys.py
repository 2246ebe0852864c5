"""Each deployment of samconfig.toml creates the stack in the emulator, and every function accepts its environment.

The template is template.yaml as committed (rendered from workloads.yaml); the parameters are those
`sam deploy --config-env NAME` passes, read from samconfig.toml as sam reads them
(``workload_table.check.samconfig_overrides``). moto creates the stack (it enforces no IAM and no
quota, see tests/conformance for those); what this proves is that the parameters, the template's Rules
and the functions' cold-start configuration, workload table included, agree for every environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_orchestrator.config import ScheduledSubmitConfig, SubmitConfig, TrackConfig, WatchdogConfig
from emulator import EmulatedStack
from emulator.invoke import handler_environment
from workload_table.check import samconfig_overrides

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("default", "dev", "prod")


@pytest.mark.parametrize(
    "stack_parameters",
    [samconfig_overrides(ROOT / "samconfig.toml", name) for name in ENVIRONMENTS],
    ids=ENVIRONMENTS,
    indirect=True,
)
def test_every_samconfig_environment_deploys_and_its_functions_start(
    stack: EmulatedStack, stack_parameters: dict[str, str]
) -> None:
    # Given the stack created with one environment's parameter_overrides
    assert stack_parameters, "samconfig.toml sets parameter_overrides for every environment"

    # When each function reads its environment as at a cold start (the template's variables and the ones
    # Lambda adds, such as AWS_REGION), then none refuses it
    SubmitConfig.from_env(handler_environment(stack, "SubmitJobsFunction"))
    ScheduledSubmitConfig.from_env(handler_environment(stack, "SubmitScheduledFunction"))
    TrackConfig.from_env(handler_environment(stack, "TrackJobsFunction"))
    WatchdogConfig.from_env(handler_environment(stack, "WatchdogFunction"))
