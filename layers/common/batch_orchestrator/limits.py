"""The AWS service limits this code and its template depend on, each with the page that documents it.

A limit is defined here once; code and tests import it. Nothing else in the package or the tests
should write an AWS number down: code that must stay within a limit (a job name's length, the SQS delay
cap, DescribeJobs' ids per call) reads it from here, and the conformance tests
(``tests/conformance``) check the requests the code builds against the same objects. When AWS
changes a limit, this file and its ``source`` change together, and every user follows.

Four shapes:

* ``Limit`` - one number (``value``, in ``unit``), e.g. SQS's 900 s maximum delay;
* ``NameRule`` - a length and a regular expression the WHOLE text must match (``re.fullmatch``),
  for names and other constrained strings (a Batch job name, an SNS subject, a tag key);
* ``Charset`` - the characters a text may hold (an SQS message body);
* ``Reserved`` - a prefix AWS keeps for itself.

Where AWS documents no limit, the module says so rather than inventing one (see
``BATCH_STATUS_REASON_UNDOCUMENTED``); where we deliberately stay below a documented limit, the
budget is a separate ``Limit`` whose ``note`` gives the reason (see ``SUBMIT_QUEUE_MESSAGE_BUDGET``).
Sources were read on the AWS documentation (and the service models botocore ships, which carry the
same API reference text) when this module was written; ``note`` records what a page does not say.
"""

from __future__ import annotations

from typing import NamedTuple

# NamedTuples, not dataclasses: every function imports this module at its cold start, and a dataclass
# costs about 0.7 ms to define against 0.1 ms for a NamedTuple (`make bench` measures cold starts).


class Limit(NamedTuple):
    """One numeric AWS limit: ``value`` counted in ``unit``, as ``source`` documents it."""

    value: int
    unit: str
    source: str
    note: str = ""


class NameRule(NamedTuple):
    """The rule a name (or other constrained string) must follow: at most ``max_length`` characters,
    and ``pattern`` matching the WHOLE text (``re.fullmatch``). The pattern also carries any minimum
    length and reserved prefixes."""

    max_length: int
    pattern: str
    source: str


class Charset(NamedTuple):
    """The characters a text may consist of: ``pattern`` must match the whole text (``re.fullmatch``)."""

    pattern: str
    source: str


class Reserved(NamedTuple):
    """A prefix AWS keeps for itself: a name starting with it is refused (compared as documented)."""

    prefix: str
    source: str
    case_sensitive: bool = True


KIB = 1024

# ================================================================================================
# AWS Batch
# ================================================================================================
_BATCH_API = "https://docs.aws.amazon.com/batch/latest/APIReference/"
_BATCH_GUIDE = "https://docs.aws.amazon.com/batch/latest/userguide/"

# "It can be up to 128 letters long. The first character must be alphanumeric, can contain uppercase
# and lowercase letters, numbers, hyphens (-), and underscores (_)."
BATCH_JOB_NAME = NameRule(128, r"[A-Za-z0-9][A-Za-z0-9_-]*", _BATCH_API + "API_SubmitJob.html")

BATCH_SUBMIT_JOB_PAYLOAD = Limit(
    30 * KIB,
    "bytes per SubmitJob request",
    _BATCH_GUIDE + "service_limits.html",
    note='"Maximum job payload size (for SubmitJob API operations): 30 KiB"; a quota that cannot be changed.',
)
BATCH_SUBMIT_JOB_RATE = Limit(
    50,
    "SubmitJob calls per second per account",
    _BATCH_GUIDE + "service_limits.html",
    note="Cannot be changed; the reason submissions go through the SubmitQueue.",
)
BATCH_DESCRIBE_JOBS_IDS = Limit(100, "job IDs per DescribeJobs call", _BATCH_API + "API_DescribeJobs.html")
BATCH_TERMINATE_REASON = Limit(
    1024,
    "characters of TerminateJob's reason",
    _BATCH_API + "API_TerminateJob.html",
    note="The reason is returned by later DescribeJobs calls, so a statusReason can be at least this long.",
)
BATCH_CONTAINER_REASON = Limit(
    255,
    "characters of container.reason",
    _BATCH_API + "API_ContainerDetail.html",
    note='"A short (255 max characters) human-readable string" (ContainerDetail and AttemptContainerDetail).',
)
BATCH_STATUS_REASON_UNDOCUMENTED = (
    "JobDetail.statusReason and AttemptDetail.statusReason have no documented maximum length "
    f"({_BATCH_API}API_JobDetail.html); the longest we know of is TerminateJob's reason, "
    "see BATCH_TERMINATE_REASON."
)
BATCH_MIN_JOB_TIMEOUT = Limit(
    60, "seconds of timeout.attemptDurationSeconds, at least", _BATCH_API + "API_JobTimeout.html"
)
BATCH_RETRY_ATTEMPTS = Limit(
    10,
    "attempts (retryStrategy.attempts is 1..10)",
    _BATCH_API + "API_RetryStrategy.html",
)

# Array jobs. SubmitJob's arrayProperties: "The array size can be between 2 and 10,000. If you specify array
# properties for a job, it becomes an array job." ListJobs with an arrayJobId "lists all child jobs from within
# the specified array"; with a jobStatus, a page holds up to 1,000 of them.
BATCH_ARRAY_MIN_SIZE = Limit(2, "children of an array job, at least", _BATCH_API + "API_SubmitJob.html")
BATCH_ARRAY_MAX_SIZE = Limit(
    10_000,
    "children of an array job, at most",
    _BATCH_API + "API_SubmitJob.html",
    note="A run of more items runs them as several array jobs of at most this many, one after another "
    "(ARRAY_RUN_MAX_ITEMS).",
)
PIPELINE_OUTPUT_PREFIX = Limit(
    200,
    "ASCII characters of OutputPrefix in a stack with pipelines (our budget)",
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html",
    note="A step is told up to four keys under OutputPrefix (STEP_OUTPUT_PREFIX, PREVIOUS_STEP_OUTPUT_PREFIX, "
    "MANIFEST_KEY, STEP_MANIFEST_KEY), beside its input key, version id and ARRAY_ITEMS: all in the containerOverrides "
    "that share ECS_RUN_TASK_OVERRIDES' 8,192 characters, where a non-ASCII character counts six or twelve once "
    "JSON-escaped. The functions refuse a longer or non-ASCII OutputPrefix at cold start when the table has a "
    "pipeline.",
)
ARRAY_RUN_MAX_ITEMS = Limit(
    100_000,
    "items of one array run, run as parts of at most BATCH_ARRAY_MAX_SIZE children one after another (our bound)",
    _BATCH_API + "API_SubmitJob.html",
    note="Ten parts: with a workload's retry.max_attempts of up to 10 each, a run's attempts stay within the 99 its "
    "job names number (ids.MAX_RUN_ATTEMPT); a manifest of that many items also stays within MANIFEST_MAX_BYTES "
    "for items of up to about 160 bytes.",
)
BATCH_LIST_JOBS_PAGE = Limit(
    1000,
    "jobs per ListJobs page when jobStatus is given (maxResults)",
    _BATCH_API + "API_ListJobs.html",
    note='"When --job-status is used, Batch returns up to 1000 values."',
)

# Tags (jobs, job definitions, queues, compute environments). "Generally allowed characters are
# letters, numbers, spaces representable in UTF-8, and + - = . _ : / @"; "Don't use aws:, AWS:, or
# any upper or lowercase combination of such as a prefix for either keys or values".
_TAGS = _BATCH_GUIDE + "tag-restrictions.html"
BATCH_TAGS_PER_RESOURCE = Limit(50, "tags per resource", _TAGS)
BATCH_PROPAGATED_TAGS = Limit(
    50,
    "tags of a job and its job definition combined, with propagateTags",
    _BATCH_API + "API_SubmitJob.html",
    note='"If the total number of combined tags from the job and job definition is over 50, the job is '
    'moved to the FAILED state." Nothing refuses the SubmitJob: the job fails later.',
)
TAG_RESERVED_PREFIX = Reserved("aws:", _TAGS, case_sensitive=False)
_TAG_CHARACTERS = r"[\w +\-=.:/@]"  # \w: Unicode letters, digits and "_"
BATCH_TAG_KEY = NameRule(128, rf"(?!(?i:aws:)){_TAG_CHARACTERS}+", _TAGS)
BATCH_TAG_VALUE = NameRule(256, rf"(?!(?i:aws:)){_TAG_CHARACTERS}*", _TAGS)

# containerOverrides.environment: "Environment variables cannot start with "AWS_BATCH". This naming
# convention is reserved for variables that Batch sets." Batch documents no count or size limit for
# them beyond the 30 KiB SubmitJob payload.
BATCH_RESERVED_ENVIRONMENT_PREFIX = Reserved("AWS_BATCH", _BATCH_API + "API_ContainerOverrides.html")
ECS_RUN_TASK_OVERRIDES = Limit(
    8192,
    "characters of RunTask overrides, JSON formatting included",
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html",
    note="An ECS limit. Batch does not document whether it hands SubmitJob's containerOverrides to ECS "
    "this way; our overrides stay within it as a precaution, so a key of 1,024 bytes never depends on it.",
)
ARRAY_ITEMS_BUDGET = Limit(
    2048,
    "characters of ARRAY_ITEMS, the ranges of original items a child-only retry runs (our budget)",
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html",
    note="ARRAY_ITEMS is a containerOverrides variable, so it shares ECS_RUN_TASK_OVERRIDES' 8,192 characters with "
    "the input's variables (a 1,024-byte key and a version id as long, JSON-escaped) and a schedule's payload; the "
    "same text goes once more into SubmitJob's parameters (arrayItems), within the 30 KiB payload. A retry whose "
    "failed items take more runs the whole of the failed attempt's array again instead.",
)

# ================================================================================================
# Amazon SQS
# ================================================================================================
_SQS_API = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/"
SQS_MAX_DELAY = Limit(900, "seconds of DelaySeconds (15 minutes)", _SQS_API + "API_SendMessage.html")
SQS_MAX_MESSAGE_SIZE = Limit(
    1024 * KIB,
    "bytes per message (1 MiB)",
    _SQS_API + "API_SendMessage.html",
    note="Raised from 256 KiB in 2025; CreateQueue's MaximumMessageSize now defaults to 1 MiB "
    f"({_SQS_API}API_CreateQueue.html). Lambda's SQS event source mappings accept 1 MB payloads since "
    "https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb",
)
SUBMIT_QUEUE_MESSAGE_BUDGET = Limit(
    256 * KIB,
    "bytes per SubmitQueue message (our budget, not an AWS maximum)",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
    note="The template sets no MaximumMessageSize, so a queue gets the default of the day it was created: "
    "256 KiB for stacks created before the 2025 raise (an existing queue keeps its attribute), 1 MiB after. "
    "A message within 256 KiB is accepted by either, and by the redrive to SubmitDLQ; S3's notifications "
    "(a few KB: one key of at most 1,024 bytes, URL-encoded) are far below both.",
)
# "The following Unicode characters are allowed: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
# #x10000 to #x10FFFF. Any characters not included in this list are rejected."
SQS_MESSAGE_CHARACTERS = Charset(
    "[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]+",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
)

# Lambda's SQS event source mapping (the SubmitQueue's consumer)
_LAMBDA_API = "https://docs.aws.amazon.com/lambda/latest/api/"
LAMBDA_SQS_MAX_BATCH_SIZE = Limit(
    10_000, "messages per batch from a standard queue", _LAMBDA_API + "API_CreateEventSourceMapping.html"
)
LAMBDA_MAX_BATCHING_WINDOW = Limit(
    300, "seconds of MaximumBatchingWindowInSeconds", _LAMBDA_API + "API_CreateEventSourceMapping.html"
)
LAMBDA_SQS_MIN_CONCURRENCY = Limit(
    2, "ScalingConfig.MaximumConcurrency, at least", _LAMBDA_API + "API_ScalingConfig.html"
)
LAMBDA_SQS_MAX_CONCURRENCY = Limit(
    1000, "ScalingConfig.MaximumConcurrency, at most", _LAMBDA_API + "API_ScalingConfig.html"
)

LAMBDA_SQS_BATCH_SIZE_WITHOUT_WINDOW = Limit(
    10,
    "messages per batch without a batching window",
    "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html",
    note='"When you set BatchSize to a value greater than 10, you must set MaximumBatchingWindowInSeconds to at '
    'least 1" (Lambda parameters for Amazon SQS event source mappings; GetEventSourceMapping, BatchSize).',
)
LAMBDA_SYNC_PAYLOAD = Limit(
    6 * 1024 * KIB,
    "bytes of one invocation's event (synchronous invocation payload)",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    note='An SQS event source mapping passes a batch "up to the payload limit for synchronous invocation (6 MB)" '
    "(BatchSize, API_CreateEventSourceMapping): a batch of BatchSize records that would be larger is cut there, "
    "so a coalescing workload's batches hold at most 6 MB / (one record's size) uploads (`make bench` measures it).",
)
SQS_SEND_MESSAGE_BATCH_ENTRIES = Limit(
    10,
    "messages per SendMessageBatch call",
    _SQS_API + "API_SendMessageBatch.html",
    note="The sum of the messages' sizes is limited as one message's (SQS_MAX_MESSAGE_SIZE); a forwarded upload "
    "is well under 2 KB.",
)

# Lambda's DynamoDB stream event source mapping (the runs table's stream -> publish_events)
_LAMBDA_DDB = "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html"
LAMBDA_STREAM_MAX_BATCH_SIZE = Limit(10_000, "records per batch from a DynamoDB stream", _LAMBDA_DDB)
LAMBDA_STREAM_MAX_RETRY_ATTEMPTS = Limit(10_000, "MaximumRetryAttempts of a stream mapping, at most", _LAMBDA_DDB)
DYNAMODB_STREAM_RETENTION = Limit(
    24 * 3600,
    "seconds a DynamoDB stream keeps a record (24 hours)",
    _LAMBDA_DDB,
    note='MaximumRecordAgeInSeconds -1 means "failed records are retried until the record expires" after this.',
)
LAMBDA_EVENT_FILTERS = Limit(
    5,
    "filters of one event source mapping's FilterCriteria (default quota; up to 10 on request)",
    "https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html",
    note="Filters are ORed; a record no filter matches is discarded (never reaches the function).",
)

# ================================================================================================
# Amazon EventBridge (the run lifecycle events: adapters/event_bus.py)
# ================================================================================================
_EVENTS_API = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html"
EVENTBRIDGE_PUT_EVENTS_ENTRIES = Limit(
    10, "entries per PutEvents call", _EVENTS_API, note="PutEventsRequestEntry list: minimum 1, maximum 10 items."
)
EVENTBRIDGE_ENTRY_SIZE = Limit(
    256 * KIB,
    "bytes of one PutEvents entry: UTF-8 Source + DetailType + Detail + each Resources entry (+14 with Time)",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html",
    note="Calculating PutEvents event entry size. A lifecycle event carries at most RUN_FAILED_CHILDREN_KEPT "
    "failed children and one attempt's items text, so even the largest run item's event stays near 30 KB.",
)

# ================================================================================================
# Amazon SNS
# ================================================================================================
_SNS_PUBLISH = "https://docs.aws.amazon.com/sns/latest/api/API_Publish.html"
_SNS_ATTRIBUTES = "https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html"
SNS_MAX_MESSAGE_SIZE = Limit(
    256 * KIB,
    "bytes of message body plus every attribute's name, type and value",
    _SNS_PUBLISH,
    note="The default; a topic's MaximumMessageSize attribute can raise it to 1 MiB. AlertsTopic sets none.",
)
# "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100
# characters long." Older versions of the page also required ASCII text beginning with a letter,
# number or punctuation mark; printable ASCII starting with a non-space satisfies both versions.
SNS_SUBJECT = NameRule(99, r"[!-~][ -~]*", _SNS_PUBLISH)
# "The name can contain the following characters: A-Z, a-z, 0-9, underscore(_), hyphen(-), and period
# (.). The name must not start or end with a period, and it should not have successive periods. [...]
# The name can be up to 256 characters long. The name cannot start with "AWS." or "Amazon." (or any
# variations in casing)."
SNS_MESSAGE_ATTRIBUTE_NAME = NameRule(
    256, r"(?!(?i:aws|amazon)\.)(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]+", _SNS_ATTRIBUTES
)
SNS_MESSAGE_ATTRIBUTE_TYPE = Limit(256, "bytes of an attribute's data type", _SNS_ATTRIBUTES)
SNS_RAW_DELIVERY_ATTRIBUTES = Limit(
    10,
    "message attributes delivered to an SQS subscription with raw message delivery",
    _SNS_ATTRIBUTES,
    note="Messages with more are discarded for such subscriptions, so alerts carry at most this many.",
)
# Publish with MessageStructure=json: "a syntactically valid JSON object" with "at least a top-level JSON key of
# "default" with a value that is a string"; other keys name a protocol; "Keys that do not correspond to supported
# transport protocols are ignored"; "Values have a maximum length bounded by the overall message size (so, including
# multiple protocols may limit message sizes)": SNS_MAX_MESSAGE_SIZE counts the whole JSON object.
SNS_STRUCTURED_DEFAULT = "default"  # the one key every structured message holds: what a protocol without its own gets
# Subscribe's Protocol (API_Subscribe.html): the other keys a structured message may hold.
SNS_SUBSCRIPTION_PROTOCOLS = (
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
)

# ================================================================================================
# Amazon Q Developer in chat applications (formerly AWS Chatbot): custom notifications
# ================================================================================================
# The numbers are those of the page's "Parameter details" table. The copy of the page read when this was written
# was cut before that table; the four numbers were checked against public clients of the format that cite the page
# (title 250, description 8,000, each next step 350, each keyword 75). The page documents no maximum for the other
# fields, nor a count of next steps or keywords: alert_chat keeps those small.
_CHAT_CUSTOM_NOTIFICATIONS = "https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html"
CHAT_TITLE = Limit(250, "characters of content.title", _CHAT_CUSTOM_NOTIFICATIONS)
CHAT_DESCRIPTION = Limit(8000, "characters of content.description", _CHAT_CUSTOM_NOTIFICATIONS)
CHAT_NEXT_STEP = Limit(350, "characters of each content.nextSteps entry", _CHAT_CUSTOM_NOTIFICATIONS)
CHAT_KEYWORD = Limit(75, "characters of each content.keywords entry", _CHAT_CUSTOM_NOTIFICATIONS)
# A custom action is attached to "The type of notification" (CustomActionAttachment.NotificationType): 1 to 100 of
# [a-zA-Z0-9-]. Alerts name their metadata.eventType within that rule, so an action can be attached to one kind.
CHAT_NOTIFICATION_TYPE = NameRule(
    100,
    r"[a-zA-Z0-9-]+",
    "https://docs.aws.amazon.com/chatbot/latest/APIReference/API_CustomActionAttachment.html",
)

# ================================================================================================
# Amazon DynamoDB
# ================================================================================================
DYNAMODB_ITEM_SIZE_RULES = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html"
)
DYNAMODB_MAX_ITEM_SIZE = Limit(
    400 * KIB,
    "bytes per item (400 KB, where DynamoDB counts 1 KB = 1024 bytes)",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html",
    note=f"The size counts attribute names and values as {DYNAMODB_ITEM_SIZE_RULES} describes.",
)

RUN_ITEM_BUDGET = Limit(
    100 * KIB,
    "bytes of one run item (our budget, a quarter of DYNAMODB_MAX_ITEM_SIZE)",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html",
    note="A run of an array keeps RUN_FAILED_CHILDREN_KEPT failed children of its last failed attempt (each with "
    "its reason cut to FAILED_CHILD_REASON_CHARS), their count, one statusSummary and one items text per attempt "
    "(ARRAY_ITEMS_BUDGET each): about 50 KB at worst, whatever the array's size.",
)
RUN_FAILED_CHILDREN_KEPT = Limit(
    100, "failed children stored on a run (our budget: RUN_ITEM_BUDGET)", DYNAMODB_ITEM_SIZE_RULES
)
FAILED_CHILD_REASON_CHARS = Limit(
    200, "characters of a stored failed child's reason (our budget: RUN_ITEM_BUDGET)", DYNAMODB_ITEM_SIZE_RULES
)

DYNAMODB_NUMBER_DIGITS = Limit(
    38,
    "digits of precision per number (boto3 refuses an int of 39 digits or more before sending it)",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html",
)

# ================================================================================================
# Amazon S3, CloudFormation, CloudWatch Logs
# ================================================================================================
S3_MAX_KEY_BYTES = Limit(
    1024, "bytes of UTF-8 per object key", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html"
)
S3_MAX_VERSION_ID_BYTES = Limit(
    1024,
    "bytes per version ID",
    "https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/mwaa/aws.sdk.kotlin.services.mwaa.model/"
    "-environment/requirements-s3-object-version.html",
    note='"Version IDs are Unicode, UTF-8 encoded, URL-ready, opaque strings that are no more than 1,024 bytes '
    'long." (the S3 guide gives no number; this AWS API reference does).',
)
DYNAMODB_TRANSACT_WRITE_ITEMS = Limit(
    100,
    "actions per TransactWriteItems call",
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html",
    note='"groups up to 100 action requests ... no two actions can target the same item ... The aggregate size of '
    'the items in the transaction cannot exceed 4 MB"; all succeed or all fail (TransactionCanceledException, '
    "with one CancellationReason per action). IAM: each Put is authorised as dynamodb:PutItem (Using IAM with "
    "DynamoDB transactions).",
)
DYNAMODB_TRANSACTION_BYTES = Limit(
    4 * 1024 * KIB,
    "bytes of the items of one TransactWriteItems call",
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html",
)
MANIFEST_MAX_BYTES = Limit(
    16 * 1024 * KIB,
    "bytes of an uploaded manifest the submit function reads to count its items (our budget)",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    note="10,000 items of S3 keys (1,024 bytes each, quoted and escaped in JSON) stay below it; a larger object "
    "would hold more items than one array job takes anyway, and reading it would cost the function's memory.",
)
CLOUDFORMATION_STACK_NAME = NameRule(
    128,
    r"[A-Za-z][-A-Za-z0-9]*",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html",
)
LOG_STREAM_NAME = NameRule(
    512, r"[^:*]+", "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html"
)

# ================================================================================================
# Workloads (workloads.yaml): Lambda's environment, EventBridge Scheduler, Fargate
# ================================================================================================
LAMBDA_ENVIRONMENT = Limit(
    4 * KIB,
    "bytes of a function's environment variables, all of them together",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    note="Function environment variables: 4 KB for all of a function's variables in aggregate; it cannot be "
    "raised. The page does not say how the aggregate is counted: count the UTF-8 bytes of every name and "
    "value and keep a margin. The workload table is not in the environment (the layer's workload_table.json): "
    "only its digest is, so the environment does not grow with the number of workloads.",
)
CLOUDFORMATION_RESOURCES = Limit(
    500,
    "resources declared in one stack's template (after the SAM transform)",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html",
    note="The quota page's Resources row (it was 200 until 2020; older copies of the page still say so). Each "
    "workload adds its job definition and one resource per schedule, so this bounds the workloads a stack holds.",
)
_SCHEDULER_API = "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html"
SCHEDULER_EXPRESSION = Limit(256, "characters of ScheduleExpression", _SCHEDULER_API)
SCHEDULER_TIMEZONE = Limit(50, "characters of ScheduleExpressionTimezone", _SCHEDULER_API)
SCHEDULER_TARGET_INPUT = Limit(
    256 * KIB,
    "bytes of a schedule target's Input",
    "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Target.html",
    note='"The maximum size of the Input field is 256 KB." (the service model\'s Target.Input documentation).',
)
SCHEDULE_PAYLOAD_BUDGET = Limit(
    4 * KIB,
    "bytes of a workload schedule's payload as compact JSON (our budget, not an AWS maximum)",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    note="A payload travels in the layer's workload table and reaches the job as the SCHEDULE_PAYLOAD override "
    "(within ECS_RUN_TASK_OVERRIDES, shared with the other overrides); SCHEDULER_TARGET_INPUT is far larger. "
    "Keep payloads small and put bulk data in S3.",
)
REQUEST_OVERRIDES_BUDGET = Limit(
    4 * KIB,
    "bytes of a run request's payload and environment together, as compact JSON (our budget, not an AWS maximum)",
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html",
    note="A request's payload and variables reach its job as containerOverrides (REQUEST_PAYLOAD and the variables "
    "its workload allows), within ECS_RUN_TASK_OVERRIDES, shared with the other overrides; they travel with every "
    "retry message and in the run item too. As SCHEDULE_PAYLOAD_BUDGET: keep them small, put bulk data in S3.",
)
FARGATE_MAX_JOB_DURATION = Limit(
    14 * 24 * 3600,
    "seconds a job on Fargate can expect to run (14 days)",
    _BATCH_GUIDE + "job_timeouts.html",
    note='"Jobs that run on Fargate resources can\'t expect to run for more than 14 days." Batch itself has no '
    "maximum timeout; the template's JobTimeoutSeconds and a workload's timeout_seconds stop at this.",
)
# "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider. Fargate Spot only
# supports Linux tasks with the X86_64 architecture." (An ARM64 job on a FARGATE_SPOT-only queue blocks it.)
FARGATE_SPOT_CPU_ARCHITECTURE = NameRule(
    6, r"X86_64", "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html"
)

# ================================================================================================
# Names of the resources a template may name explicitly, by (resource type, name property)
# ================================================================================================
# SAM's AWS::Serverless::LayerVersion becomes AWS::Lambda::LayerVersion and AWS::Serverless::Function an
# AWS::Lambda::Function: check the transformed template. The rules are the service APIs' (the
# CloudFormation property passes the name through).
_S3_BUCKET_NAME = (
    r"(?!xn--|sthree-|amzn-s3-demo-)"  # reserved prefixes (sthree-configurator starts with sthree-)
    r"(?!.*(?:-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$)"  # reserved suffixes
    r"(?!\d{1,3}(?:\.\d{1,3}){3}$)"  # not formatted as an IP address
    r"(?!.*\.\.)"  # no two adjacent periods
    r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
)
NAME_RULES: dict[tuple[str, str], NameRule] = {
    ("AWS::Scheduler::Schedule", "Name"): NameRule(
        64, r"[0-9a-zA-Z_.-]+", "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html"
    ),
    ("AWS::Batch::JobDefinition", "JobDefinitionName"): NameRule(
        128, r"[A-Za-z0-9_-]+", _BATCH_API + "API_RegisterJobDefinition.html"
    ),
    ("AWS::Batch::JobQueue", "JobQueueName"): NameRule(128, r"[A-Za-z0-9_-]+", _BATCH_API + "API_CreateJobQueue.html"),
    ("AWS::Batch::ComputeEnvironment", "ComputeEnvironmentName"): NameRule(
        128, r"[A-Za-z0-9_-]+", _BATCH_API + "API_CreateComputeEnvironment.html"
    ),
    ("AWS::Lambda::LayerVersion", "LayerName"): NameRule(
        140, r"[a-zA-Z0-9_-]+", "https://docs.aws.amazon.com/lambda/latest/api/API_LayersListItem.html"
    ),
    ("AWS::Lambda::Function", "FunctionName"): NameRule(
        64, r"[a-zA-Z0-9_-]+", "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html"
    ),
    ("AWS::Logs::LogGroup", "LogGroupName"): NameRule(
        512,
        r"[.\-_/#A-Za-z0-9]+",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
    ),
    # "The name must contain only UTF-8 characters, and can't contain ASCII control characters."
    ("AWS::CloudWatch::Alarm", "AlarmName"): NameRule(
        255,
        r"[^\x00-\x1f\x7f]+",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
    ("AWS::CloudWatch::Dashboard", "DashboardName"): NameRule(
        255, r"[A-Za-z0-9_-]+", "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html"
    ),
    # "alias/" then alphanumerics, "/", "_" and "-"; "alias/aws/" is reserved for AWS managed keys.
    ("AWS::KMS::Alias", "AliasName"): NameRule(
        256,
        r"alias/(?!aws/)[a-zA-Z0-9/_-]+",
        "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html",
    ),
    ("AWS::S3::Bucket", "BucketName"): NameRule(
        63, _S3_BUCKET_NAME, "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
    ),
    # IAM's \w is ASCII: "upper and lowercase alphanumeric characters with no spaces" plus _+=,.@-
    ("AWS::IAM::Role", "RoleName"): NameRule(
        64, r"[A-Za-z0-9_+=,.@-]+", "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html"
    ),
    ("AWS::SQS::Queue", "QueueName"): NameRule(80, r"[A-Za-z0-9_-]+(?:\.fifo)?", _SQS_API + "API_CreateQueue.html"),
    ("AWS::Events::Rule", "Name"): NameRule(
        64, r"[.\-_A-Za-z0-9]+", "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html"
    ),
    ("AWS::SNS::Topic", "TopicName"): NameRule(
        256, r"[A-Za-z0-9_-]+(?:\.fifo)?", "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html"
    ),
    ("AWS::DynamoDB::Table", "TableName"): NameRule(
        255,
        r"[a-zA-Z0-9_.-]{3,}",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html",
    ),
}
