"""Deployment package sizes after `sam build`: the layer and each function, zipped as SAM zips them.

Also checks that nothing the Lambda Python runtime already ships is in them: a second boto3 or
botocore in the layer would shadow the runtime's copy (and add megabytes to every cold start's
download), so finding one is an error, not a figure.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from bench.common import BUILD_DIR, FUNCTIONS, section_main
from bench.lambda_sandbox import check_build_is_current

# Top-level names the runtime provides (package directories, their .dist-info, single modules).
RUNTIME_PROVIDED = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "python_dateutil", "six")
# Lambda's quota for a function and all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024


class RuntimePackageInArtifact(AssertionError):
    """The build output holds a package the Lambda runtime already ships."""


def zipped_size(directory: Path) -> tuple[int, int, int]:
    """(zipped bytes, unzipped bytes, files) of ``directory``, deflated like SAM's packaging."""
    buffer = io.BytesIO()
    unzipped = files = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
                unzipped += path.stat().st_size
                files += 1
    return len(buffer.getvalue()), unzipped, files


def runtime_packages_in(directory: Path) -> list[str]:
    """Names under ``directory`` (and its python/ folder) that the runtime already provides."""
    found = []
    for root in (directory, directory / "python"):
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            name = entry.name.lower().replace("-", "_")
            stem = name.split(".", 1)[0]
            if any(stem == package or stem.startswith(package + "_") for package in RUNTIME_PROVIDED):
                found.append(str(entry.relative_to(BUILD_DIR)))
    return sorted(found)


def run(quick: bool) -> dict[str, Any]:
    check_build_is_current()
    artifacts = {"CommonLayer": BUILD_DIR / "CommonLayer"} | {name: BUILD_DIR / name for name in FUNCTIONS}
    figures: dict[str, Any] = {}
    offenders: list[str] = []
    for name, directory in artifacts.items():
        zipped, unzipped, files = zipped_size(directory)
        figures[name] = {"zipped_bytes": zipped, "unzipped_bytes": unzipped, "files": files}
        offenders += runtime_packages_in(directory)
    if offenders:
        raise RuntimePackageInArtifact(f"the build output holds what the Lambda runtime ships: {offenders}")
    largest = max(figures[name]["unzipped_bytes"] for name in FUNCTIONS)
    return {
        "artifacts": figures,
        "runtime_packages_found": offenders,
        "runtime_packages_checked": list(RUNTIME_PROVIDED),
        "largest_function_plus_layer_unzipped_bytes": largest + figures["CommonLayer"]["unzipped_bytes"],
        "unzipped_limit_bytes": UNZIPPED_LIMIT_BYTES,
    }


if __name__ == "__main__":
    section_main(run)
