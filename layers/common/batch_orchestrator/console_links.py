"""Links into the AWS Management Console, for alerts and the operator CLI.

Invariant: a link is only made for a region whose partition has a known public console; for any
other region the functions raise ValueError, so a caller never shows an address that does not exist.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_REGION = re.compile(r"[a-z]{2,5}(-[a-z]+)+-[0-9]+")
_ISOLATED_REGION = re.compile(r"(us-iso[a-z]?|eu-iso[a-z]?|eusc)-")


def console_base_url(region: str) -> str:
    """The AWS Management Console host serving ``region``.

    Partitions have their own consoles: ``https://<region>.console.aws.amazon.com`` (aws),
    ``https://console.amazonaws.cn`` (aws-cn, cn-*), ``https://console.amazonaws-us-gov.com``
    (aws-us-gov, us-gov-*). The isolated and sovereign partitions (us-iso*, eu-isoe, eusc-*)
    have no public console address we can link to: ValueError.
    """
    if not _REGION.fullmatch(region):
        raise ValueError(f"not an AWS region name: {region!r}")
    if _ISOLATED_REGION.match(region):
        raise ValueError(f"no known console address for region {region}")
    if region.startswith("cn-"):
        return "https://console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def _console_escape(value: str) -> str:
    # Inside its URL fragment the CloudWatch console expects each name percent-encoded twice,
    # with the outer '%' written as '$': '/' becomes '$252F' and '$' becomes '$2524'.
    return quote(quote(value, safe=""), safe="").replace("%", "$")


def log_stream_console_url(region: str, log_group: str, log_stream: str) -> str:
    """Deep link to one log stream's events in the CloudWatch Logs console.

    ``<console>/cloudwatch/home?region=<region>#logsV2:log-groups/log-group/<group>/log-events/
    <stream>``, with group and stream escaped the console's way (see ``_console_escape``).
    Raises ValueError for a region without a known console (see ``console_base_url``).
    """
    return (
        f"{console_base_url(region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_console_escape(log_group)}"
        f"/log-events/{_console_escape(log_stream)}"
    )
