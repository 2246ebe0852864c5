"""Lambda invocations of submit_jobs per 1,000 uploads, with the template's batch settings.

BatchSize, MaximumBatchingWindowInSeconds and ScalingConfig.MaximumConcurrency are read back from
the event source mapping that the template's stack created in moto. 1,000 files are uploaded (S3 →
SQS, as configured by the template), then ``emulator.deliver_sqs_batch`` plays the event source
mapping until the queue is empty: each delivery receives up to BatchSize messages and is one
invocation. This is a burst (everything is queued before the first poll), the case the batch
settings are for; see ``ASSUMPTION``.

``events``: the same burst's lifecycle events. ``emulator.stream_source`` then plays the runs table's stream mapping
(its FilterCriteria and BatchSize, read back from Lambda) over every record the burst wrote: publish_events'
invocations and its PutEvents calls (each created run is one Run Started event; 10 entries per call).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.common import AwsCalls, deliver_all, drain_test_event, moto_stack, progress, section_main, upload

UPLOADS = 1000
ASSUMPTION = (
    "burst: all uploads are queued before the poller reads; the batching window only matters when "
    "uploads arrive slower than BatchSize per window, and then an invocation carries what arrived "
    "within the window (at worst one upload each)"
)


def run(quick: bool) -> dict[str, Any]:
    with moto_stack() as stack:
        mapping = stack.event_source_mapping_for("SubmitJobsFunction")
        configuration = stack.function_configuration("SubmitJobsFunction")
        drain_test_event(stack)
        counter = AwsCalls().attach()
        progress(f"invocations: uploading {UPLOADS} files")
        for index in range(UPLOADS):
            upload(stack, f"incoming/bench/burst-{index:05d}.csv")
        progress("invocations: draining the SubmitQueue through submit_jobs")
        with counter.window() as window:
            deliveries = deliver_all(stack)
        progress("invocations: the runs table's stream through publish_events")
        from emulator.stream_source import deliver_stream_records

        counter.attach_events()
        with counter.window() as stream_window:
            streamed = deliver_stream_records(stack, "PublishEventsFunction")
        published = sum(len(delivery.sequence_numbers) for delivery in streamed)
        assert published == UPLOADS, f"{published} records reached publish_events for {UPLOADS} runs created"
        sizes = Counter(delivery.size for delivery in deliveries)
        records = sum(delivery.size for delivery in deliveries)
        assert records == UPLOADS, f"{records} records delivered for {UPLOADS} uploads"
        return {
            "uploads": UPLOADS,
            "invocations": len(deliveries),
            "invocations_per_1000_uploads": round(len(deliveries) * 1000 / UPLOADS, 1),
            "records_per_invocation": {str(size): count for size, count in sorted(sizes.items())},
            "batch_size": mapping.batch_size,
            "maximum_batching_window_seconds": mapping.maximum_batching_window_seconds,
            "maximum_concurrency": mapping.maximum_concurrency,
            "report_batch_item_failures": mapping.reports_batch_item_failures,
            "memory_mb": int(configuration["MemorySize"]),
            "timeout_seconds": int(configuration["Timeout"]),
            "aws_calls": window.per(UPLOADS),
            "assumption": ASSUMPTION,
            "events": {
                "publish_events_invocations": sum(delivery.invocations for delivery in streamed),
                "put_events_calls": stream_window.calls.get("events:PutEvents", 0),
                "records_filtered_out": sum(delivery.filtered_out for delivery in streamed),
                "stream_batch_size": stack.event_source_mapping_for("PublishEventsFunction").batch_size,
            },
        }


if __name__ == "__main__":
    section_main(run)
