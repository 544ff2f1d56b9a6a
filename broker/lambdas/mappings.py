"""Event source mappings (queue → function) and their pollers: batch size, maximum
concurrency, enabled or not; a poll receives a batch and starts an invocation while
concurrency allows, and a poll that fails (a disabled KMS key, say) says why on the
mapping and waits before it tries again.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from broker import errors, events, sqs
from broker.lambdas import filtering, roles
from broker.lambdas.functions import validation_error as _validation
from broker.lambdas.invocations import (
    NOTHING_MATCHED,
    REQUEST_STALE_AFTER,
    concurrency_cap,
    function_has_room,
    note_backlog,
    running_count,
    start_batch,
)
from broker.models import EventSourceMapping, Function, Invocation, Message, MessageGroup

MIN_BATCH, MAX_BATCH = 1, 10_000
MAX_FIFO_BATCH = 10
# Above a batch of 10, a mapping must wait for its batch to fill (lambda-sqs.md §1).
MAX_BATCH_WITHOUT_WINDOW = 10
MAX_WINDOW = 300

MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1_000

RESPONSE_TYPES = ("ReportBatchItemFailures",)


# Wall seconds a poller waits after a receive that failed (a disabled KMS key, say)
# before it tries again, rather than failing on every tick of the ticker.
POLL_RETRY_AFTER = 5.0


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_settings(
    queue, *, batch_size, window, maximum_concurrency, response_types, filter_criteria
) -> None:
    """The mapping's settings as AWS checks them, for this queue (§1)."""
    if not _is_int(batch_size) or not MIN_BATCH <= batch_size <= MAX_BATCH:
        raise _validation(
            batch_size,
            "batchSize",
            f"Member must have value between {MIN_BATCH} and {MAX_BATCH}",
            field="batch_size",
        )
    if not _is_int(window) or not 0 <= window <= MAX_WINDOW:
        raise _validation(
            window,
            "maximumBatchingWindowInSeconds",
            f"Member must have value between 0 and {MAX_WINDOW}",
            field="batching_window",
        )
    if queue.is_fifo:
        if batch_size > MAX_FIFO_BATCH:
            raise errors.InvalidParameterValueException(
                f"Batch size for a FIFO queue must be between {MIN_BATCH} and {MAX_FIFO_BATCH}.",
                field="batch_size",
            )
        if window:
            raise errors.InvalidParameterValueException(
                "Batching window is not supported for FIFO queues.", field="batching_window"
            )
    elif batch_size > MAX_BATCH_WITHOUT_WINDOW and window == 0:
        raise errors.InvalidParameterValueException(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
            "greater than 10",
            field="batching_window",
        )
    if maximum_concurrency is not None and (
        not _is_int(maximum_concurrency)
        or not MIN_CONCURRENCY <= maximum_concurrency <= MAX_CONCURRENCY
    ):
        raise _validation(
            maximum_concurrency,
            "scalingConfig.maximumConcurrency",
            f"Member must have value between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}",
            field="maximum_concurrency",
        )
    if not isinstance(response_types, list) or any(t not in RESPONSE_TYPES for t in response_types):
        raise _validation(
            response_types,
            "functionResponseTypes",
            "Member must satisfy constraint: [Member must satisfy enum value set: "
            "[ReportBatchItemFailures]]",
            field="function_response_types",
        )
    if filter_criteria is not None:
        filtering.patterns(filter_criteria)


def _check_visibility(queue, function: Function) -> None:
    """AWS refuses a trigger whose messages would reappear before the function's
    timeout (§5); lowering either afterwards is accepted."""
    if queue.visibility_timeout < function.timeout:
        raise errors.InvalidParameterValueException(
            f"Queue visibility timeout: {queue.visibility_timeout} seconds is less than "
            f"Function timeout: {function.timeout} seconds",
            field="queue",
        )


def _check_not_mapped(queue, function: Function) -> None:
    existing = EventSourceMapping.objects.filter(queue=queue, function=function).first()
    if existing is not None:
        raise errors.ResourceConflictException(
            f'An event source mapping with SQS arn (" {queue.arn} ") and function '
            f'(" {function.name} ") already exists. Please update or delete the existing '
            f"mapping with UUID {existing.uuid}",
            field="function",
        )


def _describe_mapping(mapping: EventSourceMapping) -> dict:
    return {
        "uuid": str(mapping.uuid),
        "queue": mapping.queue.name,
        "batch_size": mapping.batch_size,
        "batching_window": mapping.maximum_batching_window,
        "enabled": mapping.enabled,
        "maximum_concurrency": mapping.maximum_concurrency,
        "function_response_types": mapping.function_response_types,
    }


@transaction.atomic
def create_event_source_mapping(
    queue,
    function: Function,
    *,
    batch_size: int = 10,
    batching_window: int = 0,
    enabled: bool = True,
    maximum_concurrency: int | None = 5,
    function_response_types: list | None = None,
    filter_criteria: dict | None = None,
    clock,
) -> EventSourceMapping:
    """Connect a queue to a function (lambda-sqs.md §1). Records `mapping.created`.

    Raises InvalidParameterValueException or ValidationException (fields "queue",
    "function", "batch_size", "batching_window", "maximum_concurrency",
    "function_response_types", "filter_criteria") and ResourceConflictException
    (field "function") when the pair is already mapped, with AWS's messages.
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
    response_types = list(function_response_types or [])
    _check_settings(
        queue,
        batch_size=batch_size,
        window=batching_window,
        maximum_concurrency=maximum_concurrency,
        response_types=response_types,
        filter_criteria=filter_criteria,
    )
    _check_visibility(queue, function)
    roles.check_trigger(function)
    _check_not_mapped(queue, function)
    mapping = EventSourceMapping.objects.create(
        workspace_id=queue.workspace_id,
        queue=queue,
        function=function,
        batch_size=batch_size,
        maximum_batching_window=batching_window,
        enabled=bool(enabled),
        maximum_concurrency=maximum_concurrency,
        function_response_types=response_types,
        filter_criteria=filter_criteria,
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


UNCHANGED = object()


@transaction.atomic
def update_event_source_mapping(
    mapping: EventSourceMapping,
    *,
    function: Function | None = None,
    batch_size: int | None = None,
    batching_window: int | None = None,
    enabled: bool | None = None,
    maximum_concurrency=UNCHANGED,
    function_response_types: list | None = None,
    filter_criteria=UNCHANGED,
    clock,
) -> EventSourceMapping:
    """Change a mapping's settings; None (UNCHANGED where None means "remove") leaves
    one as it is. Records `mapping.updated`.

    Disabling stops polling; batches already running still finish.
    """
    values = {
        "batch_size": mapping.batch_size if batch_size is None else batch_size,
        "window": mapping.maximum_batching_window if batching_window is None else batching_window,
        "maximum_concurrency": mapping.maximum_concurrency
        if maximum_concurrency is UNCHANGED
        else maximum_concurrency,
        "response_types": mapping.function_response_types
        if function_response_types is None
        else list(function_response_types),
        "filter_criteria": mapping.filter_criteria
        if filter_criteria is UNCHANGED
        else filter_criteria,
    }
    _check_settings(mapping.queue, **values)
    if function is not None and function.pk != mapping.function_id:
        if function.workspace_id != mapping.workspace_id:
            raise errors.InvalidParameterValueException("Function does not exist", field="function")
        _check_visibility(mapping.queue, function)
        roles.check_trigger(function)
        _check_not_mapped(mapping.queue, function)
        mapping.function = function
    mapping.batch_size = values["batch_size"]
    mapping.maximum_batching_window = values["window"]
    mapping.maximum_concurrency = values["maximum_concurrency"]
    mapping.function_response_types = values["response_types"]
    mapping.filter_criteria = values["filter_criteria"]
    if enabled is not None:
        mapping.enabled = bool(enabled)
    if not mapping.enabled:
        mapping.poll_error = ""  # a trigger that does not poll has no failing poll to show
        mapping.window_opened_at = None
    mapping.modified_at = clock.now()
    # Only the settings: the ticker's bookkeeping on the row may be newer than this copy.
    mapping.save(
        update_fields=[
            "function",
            "batch_size",
            "maximum_batching_window",
            "maximum_concurrency",
            "function_response_types",
            "filter_criteria",
            "enabled",
            "poll_error",
            "window_opened_at",
            "modified_at",
        ]
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
            except (errors.KmsFailure, errors.RoleAccessDenied) as err:
                _poll_failed(mapping, err, clock=clock)
                # Back off: the ticker sees a poll still queued until POLL_RETRY_AFTER.
                next_poll_requested_at = time.time() - REQUEST_STALE_AFTER + POLL_RETRY_AFTER
                break
            if invocation is None:
                break
            if invocation is not NOTHING_MATCHED:
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
    behind an in-flight one are not receivable. A mapping with a batching window
    opens the window at the first visible message and is due when the window ends
    or the queue holds a full batch.
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
        .select_related("function", "queue")
    )
    return [
        mapping.pk
        for mapping in candidates
        # Counted on the (mapping, status) index, only for mappings with work.
        if _has_room(mapping, now=now, clock=clock)
        and function_has_room(mapping.function)
        and _window_allows(mapping, now=now, clock=clock)
        and EventSourceMapping.objects.filter(pk=mapping.pk)
        .filter(unclaimed)
        .update(poll_requested_at=wall_now)
    ]


def _has_room(mapping: EventSourceMapping, *, now: float, clock) -> bool:
    """Room under the pollers' cap; at the cap with messages waiting, scaling begins."""
    if running_count(mapping) < concurrency_cap(mapping, now=now):
        return True
    note_backlog(mapping, clock=clock)
    return False


def _window_allows(mapping: EventSourceMapping, *, now: float, clock) -> bool:
    """Whether a mapping's batching window lets it poll now; opens the window (and
    records `mapping.window_opened`) at the first visible message."""
    window = mapping.maximum_batching_window
    if not window:
        return True
    if mapping.window_opened_at is None:
        opened = EventSourceMapping.objects.filter(pk=mapping.pk, window_opened_at=None).update(
            window_opened_at=now
        )
        if opened:
            events.record(
                mapping.queue.workspace,
                "mapping.window_opened",
                queue=mapping.queue.name,
                subject=events.subject("function", mapping.function.name),
                data={"mapping": str(mapping.uuid), "closes_at": now + window},
                clock=clock,
            )
        return False
    if now >= mapping.window_opened_at + window:
        return True
    return sqs.counts(mapping.queue, now=now).visible >= mapping.batch_size
