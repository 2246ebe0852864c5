"""The code moto stores for the stack's functions and layers, and the layers' publication.

The handlers run in-process from their source directories (see ``invoke``), so moto is given a
placeholder zip wherever the template points at code (``upload_placeholders``). Layers cannot be
created by moto's CloudFormation (see ``template_shims.publish_layers_separately``): they are
published before the stack (``publish_layers``) and set on the functions after it
(``attach_layers``). The invariant: every S3 location the template's Code/Content names exists
before CreateStack, and every layer keeps the LayerName the template gives it.
"""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING, Any

from emulator.template_error import TemplateError
from emulator.template_shims import substitute_refs

if TYPE_CHECKING:
    import boto3

    from emulator.stack import EmulatedStack
    from emulator.template import PreparedTemplate

PLACEHOLDER_README = (
    "Placeholder created by emulator: moto stores this zip as the function's code, but the\n"
    "handler runs in-process from the source directory (see emulator/invoke.py).\n"
)


def upload_placeholders(session: boto3.session.Session, region: str, bucket: str, prepared: PreparedTemplate) -> None:
    """Create the code bucket and put the placeholder zip at every key the template's Code/Content names."""
    s3 = session.client("s3", region_name=region)
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    body = _placeholder_zip()
    keys = {
        location["S3Key"]
        for resource in prepared.cloudformation["Resources"].values()
        for location in (resource.get("Properties", {}).get("Code"), resource.get("Properties", {}).get("Content"))
        if isinstance(location, dict) and location.get("S3Bucket") == bucket
    }
    for key in sorted(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def publish_layers(
    session: boto3.session.Session, region: str, stack_name: str, account_id: str, prepared: PreparedTemplate
) -> dict[str, str]:
    """Part of template_shims.publish_layers_separately: publish each layer, return logical id → LayerVersionArn."""
    lambda_client = session.client("lambda", region_name=region)
    pseudo = {"AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account_id}
    arns = {}
    for logical_id, properties in prepared.shims.layers.items():
        name = properties.get("LayerName", logical_id)
        if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
            name = substitute_refs(name, pseudo)["Fn::Sub"]
        if not isinstance(name, str) or "${" in name:
            raise TemplateError(f"layer {logical_id}: emulator cannot resolve LayerName {name!r}")
        optional = ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")
        response = lambda_client.publish_layer_version(
            LayerName=name,
            Content={"S3Bucket": properties["Content"]["S3Bucket"], "S3Key": properties["Content"]["S3Key"]},
            **{key: properties[key] for key in optional if key in properties},
        )
        arns[logical_id] = response["LayerVersionArn"]
    return arns


def attach_layers(stack: EmulatedStack, deployable: dict[str, Any]) -> None:
    """Part of template_shims.publish_layers_separately: moto's CloudFormation ignores a function's
    Layers, so set them with UpdateFunctionConfiguration (when they are plain ARNs by now)."""
    for logical_id, resource in deployable["Resources"].items():
        layers = resource.get("Properties", {}).get("Layers")
        if resource.get("Type") != "AWS::Lambda::Function" or not layers or logical_id not in stack.resources:
            continue
        if all(isinstance(layer, str) for layer in layers):
            stack.client("lambda").update_function_configuration(
                FunctionName=stack.resources[logical_id], Layers=layers
            )


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("LOCAL_STACK_PLACEHOLDER.txt", PLACEHOLDER_README)
    return buffer.getvalue()
