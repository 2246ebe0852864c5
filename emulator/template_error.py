"""The one error of preparing template.yaml for moto: the template cannot become a stack moto can create.

Defined in a module of its own so that every step that raises it (loading and checking in
``template``, the shims in ``template_shims``, layer publishing in ``code_and_layers``) imports it
without importing the others. Callers import it from ``emulator.template``, which re-exports it.
"""


class TemplateError(Exception):
    """template.yaml cannot be turned into a stack moto can create; the message says why."""
