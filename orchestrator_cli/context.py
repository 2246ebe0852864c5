"""What every command gets: the settings, AWS access, the output, the time, and the stack (read once)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator_cli.aws import Aws
from orchestrator_cli.deployment import Deployment, describe_stack
from orchestrator_cli.render import Output
from orchestrator_cli.settings import Settings

log = logging.getLogger("orchestrator_cli")


@dataclass
class Context:
    settings: Settings
    aws: Aws
    out: Output
    now: datetime
    _deployment: Deployment | None = field(default=None, repr=False)

    def deployment(self) -> Deployment:
        if self._deployment is None:
            name = self.settings.require_stack_name()
            log.info(
                "stack %s (%s), region %s (%s)",
                name,
                self.settings.sources.get("stack_name", "?"),
                self.aws.region,
                self.settings.sources.get("region", "boto3 default chain"),
            )
            self._deployment = describe_stack(self.aws, name)
        return self._deployment
