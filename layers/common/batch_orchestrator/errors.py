"""Domain exceptions, defined once. Adapters wrap botocore's ClientError into these."""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(OrchestratorError):
    """An environment variable is missing or has a value the function cannot use."""


class MalformedMessage(OrchestratorError):
    """A queue message or event that cannot be parsed. It fails alone and is never retried into success."""


class RunStoreError(OrchestratorError):
    """The runs table could not be read or written (after botocore's own retries)."""


class JobSubmitError(OrchestratorError):
    """batch:SubmitJob failed.

    ``definitely_not_submitted`` is True when AWS rejected the call (throttling, validation), so no
    job exists; False when the outcome is unknown (timeout, 5xx), so a job may exist.
    """

    def __init__(self, message: str, *, definitely_not_submitted: bool) -> None:
        super().__init__(message)
        self.definitely_not_submitted = definitely_not_submitted


class BatchLookupError(OrchestratorError):
    """batch:ListJobs / DescribeJobs failed."""


class RetryEnqueueError(OrchestratorError):
    """The retry request could not be sent to the SubmitQueue."""


class AlertPublishError(OrchestratorError):
    """The alert could not be published to the SNS topic."""


class SweepIncomplete(OrchestratorError):
    """Some runs could not be checked (each was logged); the next sweep tries them again."""


class WorkloadUnavailable(OrchestratorError):
    """A request names a workload, ladder step or capacity this stack cannot submit (its workload table
    changed since the request was written). Submitting it under another workload would run the wrong job."""


class ManifestUnreadable(OrchestratorError):
    """An uploaded manifest could not be read (S3 refused or could not be reached): the upload is retried, as a
    refused SubmitJob is. An object that no longer exists is not this: its run is refused (``manifests``)."""


class ManifestUnwritable(OrchestratorError):
    """A coalesced batch's manifest could not be written: its messages are retried (the keys stay claimed under a
    batch run that does not exist, so the redelivery takes them over once their lease has expired)."""


class CoalesceForwardError(OrchestratorError):
    """Uploads could not be forwarded to a coalescing workload's queue: their SubmitQueue messages are retried."""


class EventPublishError(OrchestratorError):
    """PutEvents failed as a whole (after botocore's retries): none of the call's entries is known to be published."""
