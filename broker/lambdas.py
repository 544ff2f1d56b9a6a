"""AWS Lambda functions with SQS event source mappings, simulated.

Follows `shared/reference/lambda-sqs.md`. A function's code is described, not
executed: it runs for `duration` simulated seconds (cut at `timeout`), fails when
a record's body contains `fail_when_body_contains`, and logs one line per record
from `log_template`. An invocation is a row with `started_at` and `ends_at` in
simulated time; no worker ever sleeps through a duration.

The life of a batch, each step a service here and a Celery task in `tasks.py`:

1. `poll(mapping)` — the Lambda poller: while the mapping is enabled, has spare
   concurrency and the queue has visible messages, it receives up to `batch_size`
   messages through `sqs.receive_messages` (the queue's visibility timeout hides
   them) and starts an `Invocation` with the exact SQS event (§3), logging START
   and the function's lines.
2. The ticker sees `ends_at <= now` and queues `finish_invocation`.
3. `finish_invocation(invocation)` decides the outcome (§4): success deletes the
   whole batch with `sqs.delete_message_batch`; a function error or a timeout
   deletes nothing, so the messages reappear when their visibility timeout ends and
   the queue's redrive policy moves them to the DLQ after maxReceiveCount. Then
   END and REPORT are logged (§8).

Events: `lambda.function_created`, `lambda.function_updated`,
`lambda.function_deleted`, `lambda.mapping_created`, `lambda.mapping_updated`,
`lambda.mapping_deleted`, `lambda.invocation_started`,
`lambda.invocation_finished`, and one `lambda.log` per CloudWatch log line. The
messages' own timelines come from `sqs` (receiver/actor `lambda:<name>`).
"""

from __future__ import annotations

import math
import re
import time
import uuid
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q

from broker import errors, events, sqs
from broker.models import EventSourceMapping, Function, Invocation, Message, MessageGroup

FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MIN_TIMEOUT, MAX_TIMEOUT = 1, 900
MIN_MEMORY, MAX_MEMORY = 128, 10_240
# AWS allows up to 10,000 on standard queues (with a batching window); this
# playground has no batching window, so it keeps SQS's own receive maximum.
MIN_BATCH, MAX_BATCH = 1, 10
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1_000
# A queued task that has not run within this many wall seconds is queued again
# (a lost Celery message must not leave a batch running forever).
REQUEST_STALE_AFTER = 30.0
# Wall seconds a poller waits after a receive that failed (a disabled KMS key, say)
# before it tries again, rather than failing on every tick of the ticker.
POLL_RETRY_AFTER = 5.0
# The Python runtime's footprint before the handler touches anything, in MB.
BASE_MEMORY_USED = 38


# --- functions ------------------------------------------------------------------


def _is_seconds(value) -> bool:
    """A finite number of seconds, 0 or more (an int, float or Decimal)."""
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number >= 0


def _check_function_config(
    *, duration, timeout, memory_size, fail_when_body_contains, log_template
) -> None:
    if duration is not None and not _is_seconds(duration):
        raise errors.InvalidParameterValueException(
            "Duration must be a number of seconds, 0 or more.", field="duration"
        )
    if timeout is not None and (
        not isinstance(timeout, int) or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT
    ):
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy "
            f"constraint: Member must have value between {MIN_TIMEOUT} and {MAX_TIMEOUT}",
            field="timeout",
        )
    if memory_size is not None and (
        not isinstance(memory_size, int) or not MIN_MEMORY <= memory_size <= MAX_MEMORY
    ):
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{memory_size}' at 'memorySize' failed to "
            f"satisfy constraint: Member must have value between {MIN_MEMORY} and "
            f"{MAX_MEMORY}",
            field="memory_size",
        )
    if fail_when_body_contains is not None and len(fail_when_body_contains) > 256:
        raise errors.InvalidParameterValueException(
            "The failure rule must be at most 256 characters.", field="fail_when_body_contains"
        )
    if log_template is not None and len(log_template) > 512:
        raise errors.InvalidParameterValueException(
            "The log line must be at most 512 characters.", field="log_template"
        )


def _describe_function(function: Function) -> dict:
    return {
        "duration": function.duration,
        "timeout": function.timeout,
        "memory_size": function.memory_size,
        "fail_when_body_contains": function.fail_when_body_contains,
        "log_template": function.log_template,
    }


@transaction.atomic
def create_function(
    workspace,
    name: str,
    *,
    duration: float = 1.0,
    timeout: int = 3,
    memory_size: int = 128,
    fail_when_body_contains: str = "",
    log_template: str = "Processing message: {body}",
    clock,
) -> Function:
    """Create a function (lambda-sqs.md §6 limits). Records `lambda.function_created`.

    Raises InvalidParameterValueException (field = the offending form field) and
    ResourceConflictException (field "name") when the name is taken.
    """
    if not FUNCTION_NAME_RE.match(name or ""):
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ "
            "and have length between 1 and 64",
            field="name",
        )
    _check_function_config(
        duration=duration,
        timeout=timeout,
        memory_size=memory_size,
        fail_when_body_contains=fail_when_body_contains,
        log_template=log_template,
    )
    if Function.objects.filter(workspace=workspace, name=name).exists():
        raise errors.ResourceConflictException(f"Function already exist: {name}", field="name")
    try:
        with transaction.atomic():
            function = Function.objects.create(
                workspace=workspace,
                name=name,
                duration=float(duration),
                timeout=timeout,
                memory_size=memory_size,
                fail_when_body_contains=fail_when_body_contains,
                log_template=log_template,
                modified_at=clock.now(),
            )
    except IntegrityError:  # created concurrently
        raise errors.ResourceConflictException(
            f"Function already exist: {name}", field="name"
        ) from None
    events.record(
        workspace,
        "lambda.function_created",
        function=name,
        data=_describe_function(function),
        clock=clock,
    )
    return function


@transaction.atomic
def update_function(
    function: Function,
    *,
    duration: float | None = None,
    timeout: int | None = None,
    memory_size: int | None = None,
    fail_when_body_contains: str | None = None,
    log_template: str | None = None,
    clock,
) -> Function:
    """Change a function's configuration; None leaves a value as it is.

    Running invocations keep the configuration they started with. Records
    `lambda.function_updated` with the changed field names in `data["changed"]`.
    """
    _check_function_config(
        duration=duration,
        timeout=timeout,
        memory_size=memory_size,
        fail_when_body_contains=fail_when_body_contains,
        log_template=log_template,
    )
    values = {
        "duration": None if duration is None else float(duration),
        "timeout": timeout,
        "memory_size": memory_size,
        "fail_when_body_contains": fail_when_body_contains,
        "log_template": log_template,
    }
    changed = []
    for key, value in values.items():
        if value is not None and getattr(function, key) != value:
            setattr(function, key, value)
            changed.append(key)
    function.modified_at = clock.now()
    function.save(update_fields=[*changed, "modified_at"])
    events.record(
        function.workspace,
        "lambda.function_updated",
        function=function.name,
        data={**_describe_function(function), "changed": changed},
        clock=clock,
    )
    return function


@transaction.atomic
def delete_function(function: Function, *, clock) -> None:
    """Delete a function with its mappings and invocations. Records `lambda.function_deleted`.

    Messages of batches still running are not deleted: they reappear after
    their visibility timeout, as when a consumer disappears.
    """
    workspace, name = function.workspace, function.name
    function.delete()
    events.record(workspace, "lambda.function_deleted", function=name, clock=clock)


def get_function(workspace, name: str) -> Function:
    """The function called `name`, or ResourceNotFoundException like AWS."""
    function = Function.objects.filter(workspace=workspace, name=name).first()
    if function is None:
        arn = f"arn:aws:lambda:{workspace.region}:{workspace.account_id}:function:{name}"
        raise errors.ResourceNotFoundException(f"Function not found: {arn}", field="function")
    return function


# --- event source mappings ---------------------------------------------------------------


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
    """Connect a queue to a function (lambda-sqs.md §1). Records `lambda.mapping_created`.

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
        "lambda.mapping_created",
        queue=queue.name,
        function=function.name,
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
    """Change batch size, enabled or maximum concurrency. Records `lambda.mapping_updated`.

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
        "lambda.mapping_updated",
        queue=mapping.queue.name,
        function=mapping.function.name,
        data=_describe_mapping(mapping),
        clock=clock,
    )
    return mapping


@transaction.atomic
def delete_event_source_mapping(mapping: EventSourceMapping, *, clock) -> None:
    """Stop polling for good. Records `lambda.mapping_deleted`; running batches finish."""
    data = _describe_mapping(mapping)
    workspace, queue, function = mapping.queue.workspace, mapping.queue.name, mapping.function.name
    mapping.delete()
    events.record(
        workspace, "lambda.mapping_deleted", queue=queue, function=function, data=data, clock=clock
    )


def get_event_source_mapping(workspace, mapping_uuid) -> EventSourceMapping:
    """The mapping with this UUID, or ResourceNotFoundException like AWS."""
    try:
        key = uuid.UUID(str(mapping_uuid))
    except ValueError:
        key = None
    mapping = (
        EventSourceMapping.objects.filter(workspace=workspace, uuid=key)
        .select_related("queue", "function")
        .first()
        if key
        else None
    )
    if mapping is None:
        raise errors.ResourceNotFoundException("The resource you requested does not exist.")
    return mapping


# --- the SQS event (lambda-sqs.md §3) ------------------------------------------------------


def _message_attribute(value: dict) -> dict:
    """A stored attribute in the camelCase shape the Lambda event uses."""
    if "BinaryValue" in value:
        return {
            "binaryValue": value["BinaryValue"],
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
    return {
        "stringValue": value["StringValue"],
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }


def _record(queue, received: sqs.Received) -> dict:
    system = received.system_attributes
    first = (
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    )
    attributes = {name: system[name] for name in first if name in system}
    attributes.update({k: v for k, v in system.items() if k not in attributes})
    return {
        "messageId": received.message_id,
        "receiptHandle": received.receipt_handle,
        "body": received.body,
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value) for name, value in received.message_attributes.items()
        },
        "md5OfMessageAttributes": received.md5_of_attributes,
        "md5OfBody": received.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": queue.workspace.region,
    }


def sqs_event(queue, received: list[sqs.Received]) -> dict:
    """The event Lambda passes to a function for one batch, records in receive order."""
    return {"Records": [_record(queue, r) for r in received]}


# --- logs (lambda-sqs.md §8) -----------------------------------------------------------


def _log_line(template: str, record: dict) -> str:
    # Plain substitution, not str.format: a learner's template may hold any braces
    # and must never reach attributes of the values.
    return (
        template.replace("{body}", record["body"])
        .replace("{message_id}", record["messageId"])
        .replace("{receive_count}", record["attributes"].get("ApproximateReceiveCount", ""))
    )


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _log_entries(function_name: str, request_id: str, lines: list[str], at: float) -> list[dict]:
    return [
        {
            "kind": "lambda.log",
            "function": function_name,
            "at": at,
            "data": {"request_id": request_id, "line": line},
        }
        for line in lines
    ]


def report_line(request_id: str, *, duration: float, memory_size: int, records: int) -> str:
    """The REPORT line: tab-separated, duration in ms with two decimals, billed per 1 ms."""
    ms = duration * 1000
    used = min(memory_size, BASE_MEMORY_USED + records)
    return (
        f"REPORT RequestId: {request_id}\tDuration: {ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(round(ms, 6))} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {used} MB"
    )


# --- the poller -------------------------------------------------------------------------


def running_count(mapping: EventSourceMapping) -> int:
    """Invocations of this mapping still running (they hold concurrency until finished)."""
    return Invocation.objects.filter(mapping=mapping, status=Invocation.Status.RUNNING).count()


def _start_batch(mapping_pk: int, *, clock) -> Invocation | None:
    """Receive one batch and start its invocation; None when there is nothing to do."""
    mapping = (
        EventSourceMapping.objects.select_for_update(of=("self",))
        .select_related("queue__workspace", "function")
        .filter(pk=mapping_pk)
        .first()
    )
    if mapping is None or not mapping.enabled:
        return None
    # MaximumConcurrency reached: stop polling rather than invoke and be throttled.
    if running_count(mapping) >= mapping.maximum_concurrency:
        return None
    queue, function = mapping.queue, mapping.function
    # Lambda's pollers long-poll: at the in-flight limit they get nothing, not an error.
    received = sqs.receive_messages(
        queue,
        max_number=mapping.batch_size,
        receiver=f"lambda:{function.name}",
        long_poll=True,
        clock=clock,
    )
    if mapping.poll_error:
        mapping.poll_error = ""
        mapping.save(update_fields=["poll_error"])
        events.record(
            queue.workspace,
            "mapping.poll_recovered",
            queue=queue.name,
            function=function.name,
            data={"mapping": str(mapping.uuid)},
            clock=clock,
        )
    if not received:
        return None
    now = clock.now()
    config = _describe_function(function)
    runs_for = min(function.duration, function.timeout)
    event = sqs_event(queue, received)
    invocation = Invocation.objects.create(
        workspace_id=queue.workspace_id,
        function=function,
        mapping=mapping,
        queue=queue,
        request_id=str(uuid.uuid4()),
        event=event,
        config=config,
        started_at=now,
        ends_at=now + runs_for,
    )
    request_id = invocation.request_id
    lines = [f"START RequestId: {request_id} Version: $LATEST"]
    lines += [_log_line(function.log_template, r) for r in event["Records"]]
    events.record_many(
        queue.workspace,
        [
            {
                "kind": "lambda.invocation_started",
                "function": function.name,
                "at": now,
                "data": {
                    "request_id": request_id,
                    "status": invocation.status,
                    "message_ids": invocation.message_ids,
                    "duration": runs_for,
                    "ends_at": invocation.ends_at,
                    "queue": queue.name,
                    "mapping": str(mapping.uuid),
                },
            },
            *_log_entries(function.name, request_id, lines, now),
        ],
        clock=clock,
    )
    return invocation


def poll(mapping: EventSourceMapping, *, clock) -> list[Invocation]:
    """Start invocations while the mapping is enabled, under its maximum
    concurrency, and the queue has visible messages (lambda-sqs.md §2).

    Each batch is one transaction: `sqs.receive_messages` with the queue's
    visibility timeout, then an `Invocation` running until
    `now + min(duration, timeout)`. Records `lambda.invocation_started` and the
    START and per-record `lambda.log` lines. Never waits; the loop ends at the
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
                    invocation = _start_batch(mapping.pk, clock=clock)
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
        function=mapping.function.name,
        data={"mapping": str(mapping.uuid), "code": err.code, "message": err.message},
        clock=clock,
    )


# --- the end of an invocation -----------------------------------------------------------------


def _outcome(invocation: Invocation) -> tuple[str, str, list[str]]:
    """(status, error, error log lines) as the function's code would end."""
    config = invocation.config
    records = invocation.event.get("Records", [])
    if config["duration"] > config["timeout"]:
        error = f"Task timed out after {config['timeout']:.2f} seconds"
        line = f"{_iso(invocation.ends_at)} {invocation.request_id} {error}"
        return Invocation.Status.TIMED_OUT, error, [line]
    needle = config["fail_when_body_contains"]
    if needle and any(needle in r["body"] for r in records):
        error = f'Exception: body contains "{needle}"'
        return Invocation.Status.FAILED, error, [f"[ERROR] {error}"]
    return Invocation.Status.SUCCEEDED, "", []


@transaction.atomic
def finish_invocation(invocation: Invocation, *, clock) -> bool:
    """End an invocation whose `ends_at` has come (lambda-sqs.md §4, §8).

    Success deletes every message of the batch through
    `sqs.delete_message_batch` with the batch's receipt handles (a handle made
    stale by a later receive still deletes on a standard queue). A function
    error or a timeout deletes nothing: the messages reappear after their
    visibility timeout. Logs the error line if any, END and REPORT; records
    `lambda.invocation_finished`.

    Idempotent: a conditional UPDATE on `status` lets exactly one caller finish;
    an invocation already finished, or not due yet, is left alone. Returns
    whether this call finished it.
    """
    if clock.now() < invocation.ends_at:
        Invocation.objects.filter(pk=invocation.pk).update(finish_requested_at=None)
        return False
    status, error, error_lines = _outcome(invocation)
    claimed = Invocation.objects.filter(pk=invocation.pk, status=Invocation.Status.RUNNING).update(
        status=status, error=error, finished_at=invocation.ends_at
    )
    if not claimed:
        return False
    invocation.status, invocation.error, invocation.finished_at = status, error, invocation.ends_at
    function, queue = invocation.function, invocation.queue
    records = invocation.event.get("Records", [])
    deleted = 0
    if status == Invocation.Status.SUCCEEDED and queue is not None and records:
        result = sqs.delete_message_batch(
            queue,
            [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)],
            actor=f"lambda:{function.name}",
            clock=clock,
        )
        deleted = len(result.successful)
    config = invocation.config
    ran_for = invocation.ends_at - invocation.started_at
    request_id = invocation.request_id
    lines = [
        *error_lines,
        f"END RequestId: {request_id}",
        report_line(
            request_id, duration=ran_for, memory_size=config["memory_size"], records=len(records)
        ),
    ]
    events.record_many(
        invocation.workspace,
        [
            *_log_entries(function.name, request_id, lines, invocation.ends_at),
            {
                "kind": "lambda.invocation_finished",
                "function": function.name,
                "at": invocation.ends_at,
                "data": {
                    "request_id": request_id,
                    "status": status,
                    "message_ids": invocation.message_ids,
                    "duration": ran_for,
                    "error": error,
                    "deleted": deleted,
                    "queue": queue.name if queue is not None else "",
                },
            },
        ],
        clock=clock,
    )
    return True


# --- what the ticker wakes ---------------------------------------------------------------


def claim_due_finishes(workspace, *, clock, wall_now: float, limit: int = 200) -> list[int]:
    """Ids of running invocations whose `ends_at` has come and whose finish is not
    queued yet (or was queued more than REQUEST_STALE_AFTER wall seconds ago).

    Marks each with a conditional UPDATE, so a finish is queued once however often
    the ticker looks. The caller queues `tasks.finish_invocation` for each id.
    """
    now = clock.now()
    stale = wall_now - REQUEST_STALE_AFTER
    unclaimed = Q(finish_requested_at__isnull=True) | Q(finish_requested_at__lt=stale)
    due = list(
        Invocation.objects.filter(
            workspace=workspace, status=Invocation.Status.RUNNING, ends_at__lte=now
        )
        .filter(unclaimed)
        .order_by("ends_at")
        .values_list("pk", flat=True)[:limit]
    )
    return [
        pk
        for pk in due
        if Invocation.objects.filter(pk=pk, status=Invocation.Status.RUNNING)
        .filter(unclaimed)
        .update(finish_requested_at=wall_now)
    ]


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
