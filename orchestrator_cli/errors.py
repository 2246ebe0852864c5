"""Exit codes scripts can rely on, and the errors that carry them.

0  ok
1  unexpected error (a bug, or an AWS answer we did not foresee; -v shows the traceback)
2  usage: bad arguments, a malformed run id or S3 URL, no stack name or region configured
3  not found: the stack, a stack output, a run, an S3 object
4  AWS or credentials: no credentials, expired token, access denied, endpoint unreachable, throttled
5  conflict or refused: the action does not fit the run's state (retry of a SUCCEEDED run without
   --force), the object is outside the input prefix, the run changed while we acted
6  a check failed: `smoke` ran and at least one of its steps FAILED
130 interrupted (Ctrl-C); `smoke` still removes what it created
"""

from __future__ import annotations

from enum import IntEnum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

from batch_orchestrator.adapters.aws import THROTTLING_ERROR_CODES


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    NOT_FOUND = 3
    AWS = 4
    REFUSED = 5
    CHECK_FAILED = 6
    INTERRUPTED = 130


class CliError(Exception):
    """An error the CLI reports in one line (plus an optional hint) and turns into an exit code."""

    exit_code = ExitCode.UNEXPECTED
    kind = "UNEXPECTED"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CliError):
    exit_code = ExitCode.USAGE
    kind = "USAGE"


class NotFound(CliError):
    exit_code = ExitCode.NOT_FOUND
    kind = "NOT_FOUND"


class AwsError(CliError):
    exit_code = ExitCode.AWS
    kind = "AWS"


class Refused(CliError):
    exit_code = ExitCode.REFUSED
    kind = "REFUSED"


# Error codes meaning "who you are" is the problem, not what you asked for.
_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "AuthFailure",
    "RequestExpired",
}
_ACCESS_CODES = {"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "403", "Forbidden"}
_NOT_FOUND_CODES = {
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchVersion",
    "404",
    "NotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
}

CREDENTIALS_HINT = (
    "configure credentials (aws configure / aws sso login, --profile, or AWS_* environment variables); "
    "for the local stack pass --endpoint-url"
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


def from_aws(exc: BaseException, doing: str) -> CliError:
    """The CliError for an exception botocore raised while ``doing`` something (for the message)."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | TokenRetrievalError):
        return AwsError(f"{doing}: no usable AWS credentials ({exc})", hint=CREDENTIALS_HINT)
    if isinstance(exc, ProfileNotFound):
        return AwsError(
            f"{doing}: the AWS profile {exc.kwargs.get('profile')!r} does not exist",
            hint="it comes from --profile, samconfig.toml's profile or AWS_PROFILE; "
            "list your profiles with `aws configure list-profiles`",
        )
    if isinstance(exc, NoRegionError):
        return UsageError(f"{doing}: no AWS region", hint="pass --region, or set one in samconfig.toml or your profile")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(f"{doing}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = error_message(exc)
        if code in _CREDENTIAL_CODES:
            return AwsError(f"{doing}: credentials rejected ({code}: {message})", hint=CREDENTIALS_HINT)
        if code in _ACCESS_CODES:
            return AwsError(
                f"{doing}: access denied ({code}: {message})",
                hint="the identity you use lacks a permission this command needs (docs/operations.md, Operator CLI)",
            )
        if code in THROTTLING_ERROR_CODES:
            return AwsError(f"{doing}: throttled by AWS ({code}); try again in a moment")
        if code in _NOT_FOUND_CODES:
            return NotFound(f"{doing}: not found ({code}: {message})")
        return AwsError(f"{doing}: {code or 'error'}: {message}")
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{doing}: {exc}")
    return CliError(f"{doing}: {type(exc).__name__}: {exc}")


def from_cause(exc: BaseException, doing: str) -> CliError:
    """Classify a domain error (e.g. RunStoreError) by the botocore exception it wraps, if any."""
    cause = exc.__cause__
    if isinstance(cause, BotoCoreError | ClientError):
        return from_aws(cause, doing)
    return AwsError(f"{doing}: {exc}")
