"""One run of a function: on a trigger's batch (the SQS event, lambda-sqs.md §3), on an
SNS notification, or called directly with Invoke. Its start (START and the function's
log lines), its outcome when its simulated duration ends (success deletes the batch,
or with ReportBatchItemFailures all but the records the function names; an error or
a timeout leaves it for the visibility timeout), what it returns, and its END /
REPORT lines (§4, §8). Concurrency: a trigger's cap, the function's reservation and
the account's pool (§2, §6).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import F, Q

from broker import costs, errors, events, sqs
from broker.lambdas import filtering, roles, runtime
from broker.lambdas.functions import ACCOUNT_CONCURRENCY, describe_function
from broker.models import Event, EventSourceMapping, Function, Invocation, Message
from broker.pipeline import databases

# A queued task that has not run within this many wall seconds is queued again
# (a lost Celery message must not leave a batch running forever).
REQUEST_STALE_AFTER = 30.0


# The Python runtime's footprint before the handler touches anything, in MB.
BASE_MEMORY_USED = 38

# Concurrent batches a mapping starts with, how fast it adds more while messages
# remain (300 a minute), and the most one mapping drives (§2).
INITIAL_POLLERS = 5
SCALE_UP_PER_SECOND = 300 / 60
MAX_POLLERS = 1_000

# A batch is one synchronous invocation: its event stays under Invoke's 6 MB (§1).
MAX_BATCH_BYTES = 6 * 1024 * 1024
RECORD_OVERHEAD_BYTES = 1024  # a record's fields besides its body, generously

# What a direct Invoke may send (§6): 6 MB synchronous, 256 KB asynchronous.
MAX_SYNC_PAYLOAD, MAX_ASYNC_PAYLOAD = 6 * 1024 * 1024, 256 * 1024


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


def record_body(record) -> str:
    """What a record carries: an SQS message's body, or an SNS notification's message."""
    if isinstance(record, dict) and isinstance(record.get("Sns"), dict):
        return str(record["Sns"].get("Message", ""))
    if isinstance(record, dict) and isinstance(record.get("body"), str):
        return record["body"]
    return json.dumps(record)


def record_message_id(record) -> str:
    if not isinstance(record, dict):
        return ""
    if isinstance(record.get("Sns"), dict):
        return str(record["Sns"].get("MessageId", ""))
    return str(record.get("messageId", ""))


def event_records(event) -> list:
    """The records of an event: a batch's or a notification's, or a direct call's
    payload as its one "record"."""
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return event["Records"]
    return [event]


def log_line(template: str, record) -> str:
    # Plain substitution, not str.format: a learner's template may hold any braces
    # and must never reach attributes of the values.
    attributes = record.get("attributes") if isinstance(record, dict) else None
    receive_count = (
        attributes.get("ApproximateReceiveCount", "") if isinstance(attributes, dict) else ""
    )
    return (
        template.replace("{body}", record_body(record))
        .replace("{message_id}", record_message_id(record))
        .replace("{receive_count}", str(receive_count))
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


def report_line(
    request_id: str, *, duration: float, memory_size: int, records: int, used: int | None = None
) -> str:
    """The REPORT line: tab-separated, duration in ms with two decimals, billed per 1 ms.
    Memory used is the process's own when real code ran, else a simulated figure."""
    ms = duration * 1000
    used = min(memory_size, used if used is not None else BASE_MEMORY_USED + records)
    return (
        f"REPORT RequestId: {request_id}\tDuration: {ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(round(ms, 6))} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {used} MB"
    )


def running_count(mapping: EventSourceMapping) -> int:
    """Invocations of this mapping still running (they hold concurrency until finished)."""
    return Invocation.objects.filter(mapping=mapping, status=Invocation.Status.RUNNING).count()


def _pollers_limit(mapping: EventSourceMapping) -> int:
    """The most batches its pollers ever run: its MaximumConcurrency, else 1,000."""
    return MAX_POLLERS if mapping.maximum_concurrency is None else mapping.maximum_concurrency


def concurrency_cap(mapping: EventSourceMapping, *, now: float) -> int:
    """How many batches this mapping may have running at `now`: 5, plus 300 a minute
    of simulated time since a backlog began, up to its MaximumConcurrency or 1,000."""
    pollers = INITIAL_POLLERS
    if mapping.scaling_since is not None:
        pollers += int((now - mapping.scaling_since) * SCALE_UP_PER_SECOND)
    return min(_pollers_limit(mapping), pollers)


def note_backlog(mapping: EventSourceMapping, *, clock) -> None:
    """Messages wait while the pollers are at their cap: scaling up begins."""
    if mapping.scaling_since is not None or _pollers_limit(mapping) <= INITIAL_POLLERS:
        return
    now = clock.now()
    if EventSourceMapping.objects.filter(pk=mapping.pk, scaling_since=None).update(
        scaling_since=now
    ):
        mapping.scaling_since = now
        events.record(
            mapping.workspace,
            "mapping.scaling_up",
            queue=mapping.queue.name,
            subject=events.subject("function", mapping.function.name),
            data={"mapping": str(mapping.uuid), "per_minute": int(SCALE_UP_PER_SECOND * 60)},
            clock=clock,
        )


def _scale_down(mapping: EventSourceMapping, *, clock) -> None:
    """The queue is empty: back to the first pollers."""
    if mapping.scaling_since is None:
        return
    cap = concurrency_cap(mapping, now=clock.now())
    mapping.scaling_since = None
    mapping.save(update_fields=["scaling_since"])
    events.record(
        mapping.workspace,
        "mapping.scaled_down",
        queue=mapping.queue.name,
        subject=events.subject("function", mapping.function.name),
        data={"mapping": str(mapping.uuid), "from": cap, "to": INITIAL_POLLERS},
        clock=clock,
    )


def throttle_reason(function: Function) -> str:
    """Why one more invocation of the function would be throttled, "" when it would
    not: its reserved concurrency is used up, or the account's unreserved pool is."""
    running = Invocation.objects.filter(function=function, status=Invocation.Status.RUNNING)
    if function.reserved_concurrency is not None:
        if running.count() >= function.reserved_concurrency:
            return "ReservedFunctionConcurrentInvocationLimitExceeded"
        return ""
    reserved = sum(
        Function.objects.filter(workspace_id=function.workspace_id)
        .exclude(reserved_concurrency=None)
        .values_list("reserved_concurrency", flat=True)
    )
    unreserved_running = Invocation.objects.filter(
        workspace_id=function.workspace_id,
        status=Invocation.Status.RUNNING,
        function__reserved_concurrency=None,
    ).count()
    if unreserved_running >= ACCOUNT_CONCURRENCY - reserved:
        return "ConcurrentInvocationLimitExceeded"
    return ""


def function_has_room(function: Function) -> bool:
    return not throttle_reason(function)


def _throttled(function: Function, reason: str, *, source: dict, clock) -> None:
    events.record(
        function.workspace,
        "invocation.throttled",
        subject=events.subject("function", function.name),
        data={"reason": reason, "reserved_concurrency": function.reserved_concurrency, **source},
        clock=clock,
    )


def delete_records(queue, records: list[dict], *, actor: str, clock) -> int:
    """Delete a batch's messages by their receipt handles, ten to a DeleteMessageBatch
    as Lambda's pollers do; returns how many went."""
    deleted = 0
    for offset in range(0, len(records), 10):
        chunk = records[offset : offset + 10]
        result = sqs.delete_message_batch(
            queue,
            [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
            actor=actor,
            clock=clock,
        )
        costs.poller_delete(queue, len(chunk))
        deleted += len(result.successful)
    return deleted


def _gather(mapping: EventSourceMapping, *, clock) -> list[sqs.Received]:
    """Up to `batch_size` messages, ten to a receive, keeping the event under 6 MB."""
    queue, function = mapping.queue, mapping.function
    received: list[sqs.Received] = []
    size = 0
    while len(received) < mapping.batch_size:
        room = (MAX_BATCH_BYTES - size) // (queue.maximum_message_size + RECORD_OVERHEAD_BYTES)
        wanted = min(10, mapping.batch_size - len(received), room)
        if wanted < 1:
            break
        # Lambda's pollers long-poll: at the in-flight limit they get nothing, not an error.
        got = sqs.receive_messages(
            queue,
            max_number=wanted,
            receiver=f"lambda:{function.name}",
            long_poll=True,
            clock=clock,
        )
        costs.poller_receive(queue, len(got))
        received += got
        size += sum(len(r.body.encode()) + RECORD_OVERHEAD_BYTES for r in got)
        if len(got) < wanted:
            break
    return received


# What `start_batch` answers for a batch its filters emptied: nothing started, poll on.
NOTHING_MATCHED = object()


def start_batch(mapping_pk: int, *, clock) -> Invocation | None:
    """Receive one batch and start its invocation; None when there is nothing to do.

    Records FilterCriteria turn away are deleted, as AWS deletes them; a batch they
    empty starts nothing and the poll goes on.
    """
    mapping = (
        EventSourceMapping.objects.select_for_update(of=("self",))
        .select_related("queue__workspace", "function")
        .filter(pk=mapping_pk)
        .first()
    )
    if mapping is None or not mapping.enabled:
        return None
    # MaximumConcurrency reached: stop polling rather than invoke and be throttled.
    if running_count(mapping) >= concurrency_cap(mapping, now=clock.now()):
        note_backlog(mapping, clock=clock)
        return None
    queue, function = mapping.queue, mapping.function
    # The function's own limit: the messages wait in the queue, as on AWS.
    if not function_has_room(function):
        return None
    if not roles.allows(function, "sqs:ReceiveMessage"):
        raise roles.denied("sqs:ReceiveMessage")
    received = _gather(mapping, clock=clock)
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
    if mapping.window_opened_at is not None:
        mapping.window_opened_at = None
        mapping.save(update_fields=["window_opened_at"])
    if not received:
        _scale_down(mapping, clock=clock)
        return None
    event = sqs_event(queue, received)
    kept, dropped = filtering.split(event["Records"], mapping.filter_criteria)
    if dropped:
        delete_records(queue, dropped, actor=f"lambda:{function.name} (filtered out)", clock=clock)
        events.record(
            queue.workspace,
            "mapping.filtered_out",
            queue=queue.name,
            subject=events.subject("function", function.name),
            data={"mapping": str(mapping.uuid), "message_ids": [r["messageId"] for r in dropped]},
            clock=clock,
        )
    if not kept:
        return NOTHING_MATCHED
    again, redone = _count_again(function, kept)
    return _start(
        function,
        {"Records": kept},
        workspace=queue.workspace,
        mapping=mapping,
        queue=queue,
        source={
            "queue": queue.name,
            "mapping": str(mapping.uuid),
            "again": again,
            "redone": redone,
        },
        clock=clock,
    )


def _count_again(function: Function, records: list[dict]) -> tuple[int, int]:
    """Count on the function the records handed to it again, and of those the ones it
    had processed before (a `message.batch_failed` said so): work done twice."""
    again = [
        r["messageId"]
        for r in records
        if int(r["attributes"].get("ApproximateReceiveCount", "1")) > 1
    ]
    if not again:
        return 0, 0
    redone = (
        Event.objects.filter(
            workspace_id=function.workspace_id,
            message_id__in=again,
            kind="message.batch_failed",
            data__processed=True,
        )
        .values("message_id")
        .distinct()
        .count()
    )
    Function.objects.filter(pk=function.pk).update(
        records_again=F("records_again") + len(again),
        records_redone=F("records_redone") + redone,
    )
    return len(again), redone


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
        invocation_type="Event",
        clock=clock,
    )


def _no_constant(name: str):
    """NaN and Infinity are not JSON: refused, as Lambda's parser refuses them."""
    raise ValueError(f"{name} is not valid JSON")


def invoke(
    function: Function, payload: bytes, *, invocation_type: str, clock, producer=None
) -> Invocation | None:
    """Invoke called directly (lambda-sqs.md §9): RequestResponse or Event start an
    invocation with the payload as its event; DryRun only checks, and returns None.

    Raises InvalidRequestContentException for a payload that is not JSON,
    RequestEntityTooLargeException over 6 MB (256 KB for Event) and
    TooManyRequestsException when concurrency is used up: a direct call is not
    queued, it is lost to the caller.
    """
    limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
    if len(payload) > limit:
        raise errors.RequestEntityTooLargeException(
            f"{len(payload)} byte payload is too large for the {invocation_type} invocation "
            f"type (limit {limit} bytes)"
        )
    try:
        event = json.loads(payload.decode(), parse_constant=_no_constant) if payload.strip() else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: "
            "Unexpected character: was expecting a JSON value"
        ) from None
    if invocation_type == "DryRun":
        return None
    reason = throttle_reason(function)
    if reason:
        _throttled(function, reason, source={"source": "invoke"}, clock=clock)
        raise errors.TooManyRequestsException(reason=reason)
    return _start(
        function,
        event,
        workspace=function.workspace,
        mapping=None,
        queue=None,
        source={"source": "invoke", "invocation_type": invocation_type}
        | ({"producer": producer.name} if producer is not None else {}),
        invocation_type=invocation_type,
        producer=producer,
        clock=clock,
    )


def _start(
    function,
    event,
    *,
    workspace,
    mapping,
    queue,
    source: dict,
    invocation_type: str = "RequestResponse",
    producer=None,
    clock,
) -> Invocation:
    now = clock.now()
    request_id = str(uuid.uuid4())
    config = describe_function(function)
    config["report_batch_item_failures"] = bool(
        mapping is not None and "ReportBatchItemFailures" in mapping.function_response_types
    )
    config["runs_code"] = runtime.runs_code(function)
    if config["runs_code"]:
        # The worker's own deadline, in wall seconds: the clock's speed may change.
        config["wall_deadline"] = time.time() + function.timeout + runtime.GRACE
        # Its end is the worker's to tell; this is only the ticker's safety net, for
        # a worker that stopped mid-run: the timeout and grace, in simulated seconds.
        runs_for = (function.timeout + runtime.GRACE) * max(getattr(clock, "speed", 1.0), 1.0)
    else:
        if function.database:
            # Each record is one write, and the writes take the database's latency.
            config["write_seconds"] = databases.latency(
                workspace, function.database, records=len(event_records(event)) or 1
            )
        if function.duration_max is not None:
            # A duration within the range, the same for a rerun of this request id.
            config["duration"] = function.duration + (
                function.duration_max - function.duration
            ) * _draw(request_id, "duration")
        runs_for = min(config["duration"] + config.get("write_seconds", 0.0), function.timeout)
    invocation = Invocation.objects.create(
        workspace_id=workspace.pk,
        function=function,
        mapping=mapping,
        queue=queue,
        request_id=request_id,
        event=event,
        config=config,
        invocation_type=invocation_type,
        producer=producer,
        started_at=now,
        ends_at=now + runs_for,
    )
    costs.add(workspace, lambda_requests=1)
    request_id = invocation.request_id
    lines = [f"START RequestId: {request_id} Version: $LATEST"]
    if config["runs_code"]:
        from broker import tasks  # the tasks import this package: loaded when first used

        tasks.run_code.delay_on_commit(invocation.pk)
    else:
        lines += [log_line(function.log_template, r) for r in event_records(event)]
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
                    "duration": None if config["runs_code"] else runs_for,
                    "ends_at": None if config["runs_code"] else invocation.ends_at,
                    **source,
                },
            },
            *log_entries(function.name, request_id, lines, now),
        ],
        clock=clock,
    )
    return invocation


def _outcome(invocation: Invocation) -> runtime.Outcome:
    """How the simulated code ends (or, for real code the ticker had to end, how a
    run whose worker stopped ends)."""
    config = invocation.config
    records = event_records(invocation.event)
    ran_for = invocation.ends_at - invocation.started_at
    if config.get("runs_code"):
        message = (
            f"RequestId: {invocation.request_id} Error: Runtime exited without providing a "
            "reason (the worker running it stopped)"
        )
        return runtime.Outcome(
            status=Invocation.Status.FAILED,
            returned={"errorType": "Runtime.ExitError", "errorMessage": message},
            error=f"Runtime.ExitError: {message}",
            lines=[f"[ERROR] Runtime.ExitError: {message}"],
            duration=ran_for,
        )
    if config["duration"] + config.get("write_seconds", 0.0) > config["timeout"]:
        error = f"Task timed out after {config['timeout']:.2f} seconds"
        line = f"{iso(invocation.ends_at)} {invocation.request_id} {error}"
        returned = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {invocation.request_id} Error: {error}",
        }
        return runtime.Outcome(Invocation.Status.TIMED_OUT, returned, error, [line], ran_for)
    needle = config["fail_when_body_contains"]
    attribute = config.get("fail_when_attribute", "")
    failing = [
        i
        for i, r in enumerate(records)
        if (needle and needle in record_body(r)) or (attribute and _has_attribute(r, attribute))
    ]
    if config.get("failure") == "crash" and (failing or _fails_at_random(invocation)):
        # The process dies: no answer, so the whole batch fails, whatever it reports.
        message = (
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: signal: killed"
        )
        returned = {"errorType": "Runtime.ExitError", "errorMessage": message}
        error = f"Runtime.ExitError: {message}"
        return runtime.Outcome(
            Invocation.Status.FAILED, returned, error, [f"[ERROR] {error}"], ran_for
        )
    if not failing and _fails_at_random(invocation):
        error = f"Exception: the run failed at random (fails {config['fail_percent']} % of runs)"
        returned = {
            "errorMessage": error.removeprefix("Exception: "),
            "errorType": "Exception",
            "requestId": invocation.request_id,
            "stackTrace": [],
        }
        return runtime.Outcome(
            Invocation.Status.FAILED, returned, error, [f"[ERROR] {error}"], ran_for
        )
    reports = bool(failing) and config.get("report_failed_records")
    if failing and (not reports or (invocation.queue is not None and invocation.queue.is_fifo)):
        # The code goes through the records in order and stops at the first failure
        # (and on FIFO reports it and every record after it, to keep the order, §4.1).
        failing = list(range(failing[0], len(records)))
    done = [r for i, r in enumerate(records) if i not in failing]
    if config.get("database"):
        error = databases.write(
            invocation.workspace,
            config["database"],
            records=len(done) if records else 1,
            now=invocation.ends_at,
        )
        if error:
            returned = {
                "errorMessage": error.split(": ", 1)[1],
                "errorType": "DatabaseError",
                "requestId": invocation.request_id,
                "stackTrace": [],
            }
            return runtime.Outcome(
                Invocation.Status.FAILED, returned, error, [f"[ERROR] {error}"], ran_for
            )
    processed = tuple(record_message_id(r) for r in done)
    if reports:
        ids = [record_message_id(records[i]) for i in failing]
        returned = {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
        line = (
            f'[WARNING] {len(failing)} of {len(records)} records contain "{needle}": '
            "returned as batchItemFailures"
        )
        return runtime.Outcome(
            Invocation.Status.SUCCEEDED, returned, "", [line], ran_for, processed=processed
        )
    if failing:
        where = f"record {failing[0] + 1} of {len(records)}" if len(records) > 1 else "body"
        error = f'Exception: {where} contains "{needle}"'
        returned = {
            "errorMessage": f'{where} contains "{needle}"',
            "errorType": "Exception",
            "requestId": invocation.request_id,
            "stackTrace": [],
        }
        return runtime.Outcome(
            Invocation.Status.FAILED,
            returned,
            error,
            [f"[ERROR] {error}"],
            ran_for,
            processed=processed,
        )
    return runtime.Outcome(Invocation.Status.SUCCEEDED, None, "", [], ran_for, processed=processed)


def _draw(request_id: str, what: str) -> float:
    """A number in [0, 1) fixed by the request id: the simulation's dice, reproducible."""
    digest = hashlib.sha256(f"{request_id}:{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _fails_at_random(invocation: Invocation) -> bool:
    percent = invocation.config.get("fail_percent") or 0
    return percent > 0 and _draw(invocation.request_id, "fail") * 100 < percent


def _has_attribute(record, rule: str) -> bool:
    """`name=value`: the record has message attribute `name` whose value is `value`."""
    name, _, value = rule.partition("=")
    attributes = record.get("messageAttributes") if isinstance(record, dict) else None
    found = (attributes or {}).get(name.strip())
    return isinstance(found, dict) and found.get("stringValue") == value.strip()


def item_failures(returned, records: list[dict]) -> list[str] | None:
    """The message ids a ReportBatchItemFailures response names, [] for a complete
    success, None for a response Lambda treats as the whole batch failing (§4.1)."""
    if returned is None:
        return []
    if not isinstance(returned, dict):
        return None
    failures = returned.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    in_batch = {record_message_id(r) for r in records}
    named = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in in_batch:
            return None
        named.append(identifier)
    return named


@transaction.atomic
def finish_invocation(
    invocation: Invocation, *, clock, outcome: runtime.Outcome | None = None
) -> bool:
    """End an invocation whose `ends_at` has come (lambda-sqs.md §4, §8).

    Success deletes every message of the batch through
    `sqs.delete_message_batch` with the batch's receipt handles (a handle made
    stale by a later receive still deletes on a standard queue); with
    ReportBatchItemFailures, every message but the ones the function names, and
    none when its answer names a record not in the batch. A function error or a
    timeout deletes nothing: the messages reappear after their visibility
    timeout. Keeps what the handler returned; logs the error line if any, END and
    REPORT; records `invocation.finished`.

    `outcome` is how real code ended (`runtime.run`); without one, the simulated
    outcome, once `ends_at` has come.

    Idempotent: a conditional UPDATE on `status` lets exactly one caller finish;
    an invocation already finished, or not due yet, is left alone. Returns
    whether this call finished it.
    """
    if outcome is None:
        if invocation.config.get("runs_code"):
            # Real code is the worker's to finish; only a run past its wall deadline is
            # ended here (the claim stays, so the ticker looks again only when stale).
            if time.time() < invocation.config.get("wall_deadline", 0):
                return False
        elif clock.now() < invocation.ends_at:
            Invocation.objects.filter(pk=invocation.pk).update(finish_requested_at=None)
            return False
        outcome = _outcome(invocation)
        finished_at = invocation.ends_at
    else:
        finished_at = max(clock.now(), invocation.started_at)
    status, error, returned = outcome.status, outcome.error, outcome.returned
    records = event_records(invocation.event) if invocation.queue_id else []
    to_delete = records
    retried: list[str] = []
    if status == Invocation.Status.SUCCEEDED and invocation.config.get(
        "report_batch_item_failures"
    ):
        failures = item_failures(returned, records)
        if failures is None:
            to_delete, retried = [], [record_message_id(r) for r in records]
            error = "The function's batchItemFailures name no record of the batch"
        else:
            to_delete = [r for r in records if record_message_id(r) not in failures]
            retried = failures
    response = json.dumps(returned)
    claimed = Invocation.objects.filter(pk=invocation.pk, status=Invocation.Status.RUNNING).update(
        status=status, error=error, finished_at=finished_at, response=response
    )
    if not claimed:
        transaction.set_rollback(True)  # another caller finished it: undo our writes
        return False
    invocation.status, invocation.error, invocation.finished_at = status, error, finished_at
    invocation.response = response
    function, queue = invocation.function, invocation.queue
    deleting = status == Invocation.Status.SUCCEEDED and queue is not None and bool(to_delete)
    delete_denied = deleting and not roles.allows(function, "sqs:DeleteMessage")
    removed = to_delete if deleting and not delete_denied else []
    deleted = (
        delete_records(queue, removed, actor=f"lambda:{function.name}", clock=clock)
        if removed
        else 0
    )
    if delete_denied:
        reason = (
            f"{function.name} processed it, but could not delete it: its execution role "
            "does not allow sqs:DeleteMessage"
        )
    elif status == Invocation.Status.SUCCEEDED and retried and not error:
        reason = f"reported in batchItemFailures by {function.name}"
    else:
        reason = f"the batch of {len(records)} failed in {function.name}: {error or status}"
    _explain_returns(
        invocation,
        records,
        deleted_ids={record_message_id(r) for r in removed},
        processed_ids={record_message_id(r) for r in records}
        if delete_denied
        else set(outcome.processed),
        reason=reason,
        clock=clock,
    )
    if invocation.producer_id is not None:
        from broker.pipeline import producers  # producers call lambdas: loaded when used

        producers.count_call(invocation, clock=clock)
    mapping = invocation.mapping
    scaling = mapping is not None and mapping.scaling_since is not None and queue is not None
    if scaling and not Message.objects.filter(queue=queue, visible_at__lte=clock.now()).exists():
        _scale_down(mapping, clock=clock)
    config = invocation.config
    ran_for = outcome.duration
    costs.invocation_finished(invocation, duration=ran_for, records=len(records))
    request_id = invocation.request_id
    lines = [
        *outcome.lines,
        f"END RequestId: {request_id}",
        report_line(
            request_id,
            duration=ran_for,
            memory_size=config["memory_size"],
            records=len(event_records(invocation.event)),
            used=outcome.memory_used,
        ),
    ]
    events.record_many(
        invocation.workspace,
        [
            *log_entries(function.name, request_id, lines, finished_at),
            {
                "kind": "invocation.finished",
                "subject": events.subject("function", function.name),
                "at": finished_at,
                "data": {
                    "request_id": request_id,
                    "status": status,
                    "message_ids": invocation.message_ids,
                    "duration": ran_for,
                    "error": error,
                    "deleted": deleted,
                    "retried": retried,
                    "queue": queue.name if queue is not None else "",
                },
            },
        ],
        clock=clock,
    )
    return True


def _explain_returns(
    invocation, records, *, deleted_ids, processed_ids, reason: str, clock
) -> None:
    """Say on each message of a trigger's batch that was not deleted why it will come
    back (`message.batch_failed`), and whether the function had processed it (it will
    be processed again), one INSERT for the batch."""
    if invocation.queue_id is None:
        return
    back = [r for r in records if record_message_id(r) not in deleted_ids]
    if not back:
        return
    function = invocation.function.name
    events.record_many(
        invocation.workspace,
        [
            {
                "kind": "message.batch_failed",
                "queue": invocation.queue.name,
                "message_id": record_message_id(r),
                "subject": events.subject("function", function),
                "data": {
                    "request_id": invocation.request_id,
                    "reason": reason,
                    "processed": record_message_id(r) in processed_ids,
                },
            }
            for r in back
        ],
        clock=clock,
    )


def log_tail(invocation: Invocation, *, limit: int = 4096) -> str:
    """The invocation's log lines as CloudWatch holds them, the last `limit` bytes
    (Invoke's `LogType: Tail`)."""
    lines = Event.objects.filter(
        workspace_id=invocation.workspace_id,
        kind="function.logged",
        data__request_id=invocation.request_id,
    ).order_by("id")
    text = "".join(line + "\n" for line in lines.values_list("data__line", flat=True))
    return text.encode()[-limit:].decode(errors="ignore")


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
