"""Arrange state through the services, so invariants and events hold."""

from __future__ import annotations

from broker import lambdas, sqs
from broker.models import Message
from broker.sqs import tally


def make_queue(workspace, name: str = "MyTaskQueue", *, clock, **attributes):
    return sqs.create_queue(
        workspace, name, attributes={k: str(v) for k, v in attributes.items()}, clock=clock
    )


def make_function(workspace, name: str = "ConsumerFunction", *, clock, **config):
    return lambdas.create_function(workspace, name, clock=clock, **config)


def make_mapping(queue, function, *, clock, **options):
    return lambdas.create_event_source_mapping(queue, function, clock=clock, **options)


def counted(queue, *, now: float) -> sqs.Counts:
    """The counts found by looking at every message: what `sqs.counts` must agree with."""
    messages = Message.objects.filter(queue=queue)
    return sqs.Counts(
        visible=messages.filter(visible_at__lte=now).count(),
        in_flight=messages.filter(visible_at__gt=now, receive_count__gt=0).count(),
        delayed=messages.filter(visible_at__gt=now, receive_count=0).count(),
    )


def states_of(queue) -> tally.Totals:
    """The tally the queue's rows add up to: what `tally.totals` must agree with."""
    messages = Message.objects.filter(queue=queue)
    return tally.Totals(
        messages=messages.count(),
        held=messages.filter(hidden=True, receive_count__gt=0).count(),
        delayed=messages.filter(hidden=True, receive_count=0).count(),
    )


def make_poison_consumer(queue, *, clock, reports: bool, batch_size: int, **config):
    """A function that fails on records containing "poison", behind a trigger of the
    queue; `reports`: it returns them as batchItemFailures (ReportBatchItemFailures)."""
    function = make_function(
        queue.workspace,
        clock=clock,
        duration=1,
        fail_when_body_contains="poison",
        report_failed_records=reports,
        **config,
    )
    make_mapping(
        queue,
        function,
        clock=clock,
        batch_size=batch_size,
        function_response_types=["ReportBatchItemFailures"] if reports else [],
    )
    return function
