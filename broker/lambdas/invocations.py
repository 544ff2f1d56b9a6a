"""One run of a function on one batch: the SQS event it receives (lambda-sqs.md §3), its
start (START and the function's log lines), its outcome when its simulated duration
ends (success deletes the batch; an error or a timeout leaves it for the visibility
timeout) and its END / REPORT lines (§8).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q

from broker import events, sqs
from broker.lambdas.functions import describe_function
from broker.models import EventSourceMapping, Invocation

# A queued task that has not run within this many wall seconds is queued again
# (a lost Celery message must not leave a batch running forever).
REQUEST_STALE_AFTER = 30.0


# The Python runtime's footprint before the handler touches anything, in MB.
BASE_MEMORY_USED = 38


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


def record_body(record: dict) -> str:
    """What a record carries: an SQS message's body, or an SNS notification's message."""
    return record["Sns"]["Message"] if "Sns" in record else record["body"]


def record_message_id(record: dict) -> str:
    return record["Sns"]["MessageId"] if "Sns" in record else record["messageId"]


def log_line(template: str, record: dict) -> str:
    # Plain substitution, not str.format: a learner's template may hold any braces
    # and must never reach attributes of the values.
    receive_count = record.get("attributes", {}).get("ApproximateReceiveCount", "")
    return (
        template.replace("{body}", record_body(record))
        .replace("{message_id}", record_message_id(record))
        .replace("{receive_count}", receive_count)
    )


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def log_entries(function_name: str, request_id: str, lines: list[str], at: float) -> list[dict]:
    return [
        {
            "kind": "function.logged",
            "subject": events.subject("function", function_name),
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


def running_count(mapping: EventSourceMapping) -> int:
    """Invocations of this mapping still running (they hold concurrency until finished)."""
    return Invocation.objects.filter(mapping=mapping, status=Invocation.Status.RUNNING).count()


def start_batch(mapping_pk: int, *, clock) -> Invocation | None:
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
            subject=events.subject("function", function.name),
            data={"mapping": str(mapping.uuid)},
            clock=clock,
        )
    if not received:
        return None
    return _start(
        function,
        sqs_event(queue, received),
        workspace=queue.workspace,
        mapping=mapping,
        queue=queue,
        source={"queue": queue.name, "mapping": str(mapping.uuid)},
        clock=clock,
    )


def start_event_invocation(function, event: dict, *, source: str, clock) -> Invocation:
    """Start an asynchronous invocation (InvocationType=Event) with an event another
    service sends, such as SNS's (`source` names it: "sns:<topic>")."""
    return _start(
        function,
        event,
        workspace=function.workspace,
        mapping=None,
        queue=None,
        source={"source": source},
        clock=clock,
    )


def _start(function, event: dict, *, workspace, mapping, queue, source: dict, clock) -> Invocation:
    now = clock.now()
    runs_for = min(function.duration, function.timeout)
    invocation = Invocation.objects.create(
        workspace_id=workspace.pk,
        function=function,
        mapping=mapping,
        queue=queue,
        request_id=str(uuid.uuid4()),
        event=event,
        config=describe_function(function),
        started_at=now,
        ends_at=now + runs_for,
    )
    request_id = invocation.request_id
    lines = [f"START RequestId: {request_id} Version: $LATEST"]
    lines += [log_line(function.log_template, r) for r in event["Records"]]
    events.record_many(
        workspace,
        [
            {
                "kind": "invocation.started",
                "subject": events.subject("function", function.name),
                "at": now,
                "data": {
                    "request_id": request_id,
                    "status": invocation.status,
                    "message_ids": invocation.message_ids,
                    "duration": runs_for,
                    "ends_at": invocation.ends_at,
                    **source,
                },
            },
            *log_entries(function.name, request_id, lines, now),
        ],
        clock=clock,
    )
    return invocation


def _outcome(invocation: Invocation) -> tuple[str, str, list[str]]:
    """(status, error, error log lines) as the function's code would end."""
    config = invocation.config
    records = invocation.event.get("Records", [])
    if config["duration"] > config["timeout"]:
        error = f"Task timed out after {config['timeout']:.2f} seconds"
        line = f"{iso(invocation.ends_at)} {invocation.request_id} {error}"
        return Invocation.Status.TIMED_OUT, error, [line]
    needle = config["fail_when_body_contains"]
    if needle and any(needle in record_body(r) for r in records):
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
    `invocation.finished`.

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
            *log_entries(function.name, request_id, lines, invocation.ends_at),
            {
                "kind": "invocation.finished",
                "subject": events.subject("function", function.name),
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
