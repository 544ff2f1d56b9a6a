"""Event source mappings (queue → function) and their pollers: batch size, maximum
concurrency, enabled or not; a poll receives a batch and starts an invocation while
concurrency allows, and a poll that fails (a disabled KMS key, say) says why on the
mapping and waits before it tries again.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from broker import errors, events
from broker.lambdas.invocations import REQUEST_STALE_AFTER, running_count, start_batch
from broker.models import EventSourceMapping, Function, Invocation, Message, MessageGroup

# AWS allows up to 10,000 on standard queues (with a batching window); this
# playground has no batching window, so it keeps SQS's own receive maximum.
MIN_BATCH, MAX_BATCH = 1, 10


MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1_000


# Wall seconds a poller waits after a receive that failed (a disabled KMS key, say)
# before it tries again, rather than failing on every tick of the ticker.
POLL_RETRY_AFTER = 5.0


def _check_batch_size(batch_size) -> None:
    if not isinstance(batch_size, int) or not MIN_BATCH <= batch_size <= MAX_BATCH:
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{batch_size}' at 'batchSize' failed to "
            f"satisfy constraint: Member must have value between {MIN_BATCH} and {MAX_BATCH}",
            field="batch_size",
        )


def _check_maximum_concurrency(value) -> None:
    if not isinstance(value, int) or not MIN_CONCURRENCY <= value <= MAX_CONCURRENCY:
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{value}' at 'scalingConfig.maximumConcurrency' "
            f"failed to satisfy constraint: Member must have value between {MIN_CONCURRENCY} "
            f"and {MAX_CONCURRENCY}",
            field="maximum_concurrency",
        )


def _describe_mapping(mapping: EventSourceMapping) -> dict:
    return {
        "uuid": str(mapping.uuid),
        "queue": mapping.queue.name,
        "batch_size": mapping.batch_size,
        "enabled": mapping.enabled,
        "maximum_concurrency": mapping.maximum_concurrency,
    }


@transaction.atomic
def create_event_source_mapping(
    queue,
    function: Function,
    *,
    batch_size: int = 10,
    enabled: bool = True,
    maximum_concurrency: int = 5,
    clock,
) -> EventSourceMapping:
    """Connect a queue to a function (lambda-sqs.md §1). Records `mapping.created`.

    Raises InvalidParameterValueException (fields "queue", "function",
    "batch_size", "maximum_concurrency") and ResourceConflictException (field
    "function") when the pair is already mapped, with AWS's message.
    """
    if queue is None:
        raise errors.InvalidParameterValueException(
            "Error occurred while ReceiveMessage. SQS Error Code: "
            "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue "
            "does not exist.",
            field="queue",
        )
    if function is None or function.workspace_id != queue.workspace_id:
        raise errors.InvalidParameterValueException("Function does not exist", field="function")
    _check_batch_size(batch_size)
    _check_maximum_concurrency(maximum_concurrency)
    existing = EventSourceMapping.objects.filter(queue=queue, function=function).first()
    if existing is not None:
        raise errors.ResourceConflictException(
            f'An event source mapping with SQS arn (" {queue.arn} ") and function '
            f'(" {function.name} ") already exists. Please update or delete the existing '
            f"mapping with UUID {existing.uuid}",
            field="function",
        )
    mapping = EventSourceMapping.objects.create(
        workspace_id=queue.workspace_id,
        queue=queue,
        function=function,
        batch_size=batch_size,
        enabled=bool(enabled),
        maximum_concurrency=maximum_concurrency,
        modified_at=clock.now(),
    )
    events.record(
        queue.workspace,
        "mapping.created",
        queue=queue.name,
        subject=events.subject("function", function.name),
        data=_describe_mapping(mapping),
        clock=clock,
    )
    return mapping


@transaction.atomic
def update_event_source_mapping(
    mapping: EventSourceMapping,
    *,
    batch_size: int | None = None,
    enabled: bool | None = None,
    maximum_concurrency: int | None = None,
    clock,
) -> EventSourceMapping:
    """Change batch size, enabled or maximum concurrency. Records `mapping.updated`.

    Disabling stops polling; batches already running still finish.
    """
    if batch_size is not None:
        _check_batch_size(batch_size)
        mapping.batch_size = batch_size
    if maximum_concurrency is not None:
        _check_maximum_concurrency(maximum_concurrency)
        mapping.maximum_concurrency = maximum_concurrency
    if enabled is not None:
        mapping.enabled = bool(enabled)
    if not mapping.enabled:
        mapping.poll_error = ""  # a trigger that does not poll has no failing poll to show
    mapping.modified_at = clock.now()
    mapping.save(
        update_fields=["batch_size", "maximum_concurrency", "enabled", "modified_at", "poll_error"]
    )
    events.record(
        mapping.queue.workspace,
        "mapping.updated",
        queue=mapping.queue.name,
        subject=events.subject("function", mapping.function.name),
        data=_describe_mapping(mapping),
        clock=clock,
    )
    return mapping


@transaction.atomic
def delete_event_source_mapping(mapping: EventSourceMapping, *, clock) -> None:
    """Stop polling for good. Records `mapping.deleted`; running batches finish."""
    data = _describe_mapping(mapping)
    workspace, queue, function = mapping.queue.workspace, mapping.queue.name, mapping.function.name
    mapping.delete()
    events.record(
        workspace,
        "mapping.deleted",
        queue=queue,
        subject=events.subject("function", function),
        data=data,
        clock=clock,
    )


def poll(mapping: EventSourceMapping, *, clock) -> list[Invocation]:
    """Start invocations while the mapping is enabled, under its maximum
    concurrency, and the queue has visible messages (lambda-sqs.md §2).

    Each batch is one transaction: `sqs.receive_messages` with the queue's
    visibility timeout, then an `Invocation` running until
    `now + min(duration, timeout)`. Records `invocation.started` and the
    START and per-record `function.logged` lines. Never waits; the loop ends at the
    concurrency cap or an empty receive, so it runs at most
    `maximum_concurrency` rounds. Polls of one mapping are serialised by a row
    lock on the mapping (PostgreSQL) or the write lock (SQLite), so the cap holds.
    A receive the queue's KMS key refuses ends the poll: the mapping keeps the
    reason until a receive works again, and the next poll waits POLL_RETRY_AFTER.
    Returns the invocations started.
    """
    started = []
    # Done: the ticker may queue the next poll when messages and room appear.
    next_poll_requested_at = None
    try:
        for _round in range(MAX_CONCURRENCY):
            try:
                with transaction.atomic():
                    invocation = start_batch(mapping.pk, clock=clock)
            except errors.KmsFailure as err:
                _poll_failed(mapping, err, clock=clock)
                # Back off: the ticker sees a poll still queued until POLL_RETRY_AFTER.
                next_poll_requested_at = time.time() - REQUEST_STALE_AFTER + POLL_RETRY_AFTER
                break
            if invocation is None:
                break
            started.append(invocation)
    finally:
        EventSourceMapping.objects.filter(pk=mapping.pk).update(
            poll_requested_at=next_poll_requested_at
        )
    return started


@transaction.atomic
def _poll_failed(mapping: EventSourceMapping, err: errors.AwsError, *, clock) -> None:
    """The queue refused the poller's receive (its KMS key, say): shown on the trigger until
    a poll receives again. Recorded once per cause, not on every retry."""
    reason = f"{err.code}: {err.message}"[:512]
    mapping = (
        EventSourceMapping.objects.select_related("queue__workspace", "function")
        .filter(pk=mapping.pk)
        .first()
    )
    if mapping is None or mapping.poll_error == reason:  # deleted meanwhile, or known
        return
    mapping.poll_error = reason
    mapping.save(update_fields=["poll_error"])
    events.record(
        mapping.queue.workspace,
        "mapping.poll_failed",
        queue=mapping.queue.name,
        subject=events.subject("function", mapping.function.name),
        data={"mapping": str(mapping.uuid), "code": err.code, "message": err.message},
        clock=clock,
    )


def claim_due_polls(workspace, *, clock, wall_now: float) -> list[int]:
    """Ids of enabled mappings with spare concurrency whose queue has a visible
    message, and no poll queued (or one queued more than REQUEST_STALE_AFTER wall
    seconds ago). Marks each with a conditional UPDATE; `poll` clears the mark.

    The visible-message test is an indexed EXISTS on (queue, visible_at); on a
    FIFO queue it is a readable group, (queue, ready_at), since visible messages
    behind an in-flight one are not receivable.
    """
    now = clock.now()
    stale = wall_now - REQUEST_STALE_AFTER
    unclaimed = Q(poll_requested_at__isnull=True) | Q(poll_requested_at__lt=stale)
    visible = Exists(Message.objects.filter(queue=OuterRef("queue"), visible_at__lte=now))
    readable_group = Exists(MessageGroup.objects.filter(queue=OuterRef("queue"), ready_at__lte=now))
    fifo = Q(queue__name__endswith=".fifo")
    candidates = list(
        EventSourceMapping.objects.filter(workspace=workspace, enabled=True)
        .filter(unclaimed)
        .filter((~fifo & visible) | (fifo & readable_group))
    )
    return [
        mapping.pk
        for mapping in candidates
        # Counted on the (mapping, status) index, only for mappings with work.
        if running_count(mapping) < mapping.maximum_concurrency
        and EventSourceMapping.objects.filter(pk=mapping.pk)
        .filter(unclaimed)
        .update(poll_requested_at=wall_now)
    ]
