"""The marked regions of template.yaml that ``make template`` rewrites, and nothing else.

A region is the lines between a begin marker and its end marker::

    # >>> workloads: <region> (anything after the name is a note for the reader)
    ...generated lines...
    # <<< workloads: <region>

The invariant: ``replace_regions`` changes only the lines strictly between markers. The markers
themselves, and every byte outside the regions, come back unchanged, so rendering twice gives the same
text and a hand edit outside the regions survives. Generated lines are indented like their begin
marker (the marker's column is the YAML indentation the region's content needs). A region name may
appear more than once (the SubmitJob resources of both submit functions): each occurrence gets the
same content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BEGIN = re.compile(r"^(?P<indent>[ ]*)# >>> workloads: (?P<name>[a-z][a-z0-9-]*)(?:\s.*)?$")
END = re.compile(r"^(?P<indent>[ ]*)# <<< workloads: (?P<name>[a-z][a-z0-9-]*)\s*$")


class RegionError(ValueError):
    """The template's markers are broken (unclosed, nested, mismatched, unknown): the message says where."""


@dataclass(frozen=True)
class Region:
    name: str
    indent: str
    begin: int  # index of the begin marker line
    end: int  # index of the end marker line


def find_regions(lines: Sequence[str]) -> list[Region]:
    """Every region of the template, in order; RegionError on a marker without its partner."""
    regions: list[Region] = []
    open_region: tuple[str, str, int] | None = None
    for index, line in enumerate(lines):
        text = line.rstrip("\r\n")
        begin, end = BEGIN.match(text), END.match(text)
        if begin is not None:
            if open_region is not None:
                raise RegionError(f"line {index + 1}: region {begin['name']!r} starts inside {open_region[0]!r}")
            open_region = (begin["name"], begin["indent"], index)
        elif end is not None:
            if open_region is None or open_region[0] != end["name"]:
                raise RegionError(f"line {index + 1}: end of region {end['name']!r} without its begin marker")
            if end["indent"] != open_region[1]:
                raise RegionError(f"line {index + 1}: region {end['name']!r} ends at another indentation")
            regions.append(Region(open_region[0], open_region[1], open_region[2], index))
            open_region = None
        elif "# >>> workloads" in text or "# <<< workloads" in text:
            raise RegionError(f"line {index + 1}: a workloads marker that does not parse: {text.strip()!r}")
    if open_region is not None:
        raise RegionError(f"line {open_region[2] + 1}: region {open_region[0]!r} is never closed")
    return regions


def replace_regions(template_text: str, contents: Mapping[str, Sequence[str]]) -> str:
    """``template_text`` with each region's lines replaced by ``contents[name]`` (lines without indentation).

    Every region of the template must have contents and every content a region: a missing or extra
    name raises RegionError, so a template and a renderer that drifted apart fail loudly.
    """
    lines = template_text.splitlines(keepends=True)
    regions = find_regions(lines)
    found = {region.name for region in regions}
    if found != set(contents):
        missing, extra = sorted(set(contents) - found), sorted(found - set(contents))
        raise RegionError(f"template regions differ from the renderer's: missing {missing}, unknown {extra}")
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    output: list[str] = []
    position = 0
    for region in regions:
        output += lines[position : region.begin + 1]
        output += [f"{region.indent}{line}{newline}" if line else newline for line in contents[region.name]]
        position = region.end
    output += lines[position:]
    return "".join(output)
