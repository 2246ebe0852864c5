"""Small writers of YAML/CloudFormation text for the generated regions, and the CloudFormation YAML loader.

The invariant of the writers: every user value (an image, a command argument, an environment value, a
payload) reaches the template as a quoted scalar that YAML reads back as exactly that string, and a
user value inside an ``!Sub`` has each ``${`` escaped as ``${!`` so CloudFormation substitutes nothing
in it. ``tests/unit/test_workload_table.py`` renders hostile values and reads them back.
"""

from __future__ import annotations

from typing import Any

import yaml

STACK_TAIL = '{StackTail: !Select [4, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]}'
"""The last group of the stack id's UUID (12 characters): how the template names its schedules and bucket."""


def quoted(text: str) -> str:
    """A double-quoted YAML scalar that reads back as ``text``.

    Printable characters stay as they are (``é``, ``日本``); the others are escaped, including the ones
    YAML would read as line breaks inside the quotes (U+0085, U+2028, U+2029), and characters beyond
    U+FFFF as ``\\U`` escapes (JSON's surrogate pairs are not YAML).
    """
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def sub_escaped(text: str) -> str:
    """``text`` as the literal part of an Fn::Sub string: ``${`` becomes ``${!`` (CloudFormation's escape)."""
    return text.replace("${", "${!")


def single_quoted(text: str) -> str:
    """A single-quoted YAML scalar (only ``'`` needs escaping, as ``''``); ``text`` must be one printable line."""
    if not text.isprintable():
        raise ValueError(f"{text[:40]!r}...: a single-quoted scalar holds printable characters only")
    return "'" + text.replace("'", "''") + "'"


def flow_list(items: list[str]) -> str:
    """A YAML flow sequence of quoted strings: ``["python3", "/app/job.py"]``."""
    return "[" + ", ".join(quoted(item) for item in items) + "]"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads the short-form tags (!Ref, !Sub, ...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"!{suffix}: unsupported node", node.start_mark)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_cloudformation(text: str) -> dict[str, Any]:
    """A CloudFormation/SAM YAML template as a dict (intrinsics in their long form)."""
    document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise ValueError("not a CloudFormation template (no Resources mapping)")
    return document
