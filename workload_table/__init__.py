"""The workload table: workloads.yaml, rendered into template.yaml's marked regions, and checked.

``workloads.yaml`` lists the workloads beyond the stack's own (the ``default`` workload its parameters
describe). ``render_template`` writes their job definitions, Spot queue, schedules, permissions and the
functions' WORKLOADS variable into the regions of template.yaml between ``# >>> workloads: <region>``
and ``# <<< workloads: <region>``; ``python -m workload_table check`` (``make validate``) fails on an
invalid table and on a template.yaml that is not what rendering would give. Development tooling: it
runs before ``sam build`` and is not deployed (the functions read the rendered WORKLOADS variable with
the layer's own parser, ``batch_orchestrator.workloads``).
"""

from workload_table.render import render_template

__all__ = ["render_template"]
