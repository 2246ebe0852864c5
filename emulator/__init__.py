"""The stack of template.yaml, created inside moto: the same template, handlers and wiring, locally.

Not deployed to Lambda. ``template`` turns the SAM template into what moto's CloudFormation can
create (with small documented shims; ``render_workloads`` first renders a workloads table into it, in
memory), ``stack`` creates it and reads back what it made, and
``invoke`` runs a function's handler in-process with the environment the stack gives it.

``emulator.pipeline.LocalPipeline`` runs the whole stack locally (moto server, event delivery,
local Batch jobs) for ``python -m emulator`` and the end-to-end tests; it is not imported here,
so importing the package stays as light as the stack alone.
"""

from emulator.invoke import (
    LambdaContext,
    SqsDelivery,
    deliver_sqs_batch,
    invoke_handler,
    sqs_event_from_messages,
)
from emulator.stack import (
    EmulatedStack,
    EventRule,
    EventSourceMapping,
    Schedule,
    StackCreationError,
    configure_moto,
    deploy_stack,
)
from emulator.template import PreparedTemplate, load_template, prepare_template, render_workloads

__all__ = [
    "EmulatedStack",
    "EventRule",
    "EventSourceMapping",
    "LambdaContext",
    "PreparedTemplate",
    "Schedule",
    "SqsDelivery",
    "StackCreationError",
    "configure_moto",
    "deliver_sqs_batch",
    "deploy_stack",
    "invoke_handler",
    "load_template",
    "prepare_template",
    "render_workloads",
    "sqs_event_from_messages",
]
