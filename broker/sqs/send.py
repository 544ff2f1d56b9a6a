"""SendMessage and SendMessageBatch (sqs.md §3): the body and its characters, message
attributes, delays, FIFO's group and deduplication ids; the message stored, encrypted
at rest, counted in the tally and recorded as `message.sent` on its timeline. A FIFO
duplicate within the deduplication window is absorbed: the answer names the first
message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from functools import partial

from django.db import transaction

from broker import errors, events, message_attributes, statements, wakeup
from broker.kms import data_keys, encryption
from broker.models import Message, Queue
from broker.sqs import fifo, tally
from broker.sqs.attributes import MAX_DELAY
from broker.sqs.batches import BatchFailure, BatchResult, check_batch_ids

MAX_BATCH_BYTES = 1_048_576


@dataclass(frozen=True)
class Sent:
    message_id: str
    md5_of_body: str
    md5_of_attributes: str | None
    md5_of_system_attributes: str | None
    sequence_number: str | None = None  # FIFO only
    duplicate: bool = False  # FIFO: absorbed by the deduplication window


def _prepare(
    queue: Queue,
    *,
    body,
    attributes,
    system_attributes,
    delay_seconds,
    now,
    group_id=None,
    deduplication_id=None,
    batch=False,
):
    """Validate one message; return the unsaved Message and its Sent result."""
    if body is None or body == "":
        raise errors.MissingParameter(
            "The request must contain the parameter MessageBody.", field="MessageBody"
        )
    if message_attributes.INVALID_CHARS.search(body):
        raise errors.InvalidMessageContents()
    stored, attr_size = message_attributes.validate(attributes or {})
    size = len(body.encode("utf-8")) + attr_size
    if size > queue.maximum_message_size:
        raise errors.InvalidParameterValue(
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{queue.maximum_message_size} bytes."
        )
    group_id, deduplication_id = _check_ordering_ids(
        queue, body, group_id, deduplication_id, delay_seconds, batch=batch
    )
    if delay_seconds is None or (queue.is_fifo and delay_seconds == 0):
        delay = queue.delay_seconds
    else:
        delay = int(delay_seconds)
        if not 0 <= delay <= MAX_DELAY:
            raise errors.InvalidParameterValue(
                f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: must "
                f"be between 0 and {MAX_DELAY}, if provided."
            )
    system = {}
    for name, value in (system_attributes or {}).items():
        if name != "AWSTraceHeader" or value.get("DataType") != "String":
            raise errors.InvalidParameterValue(
                f"Message system attribute name '{name}' is invalid."
            )
        system[name] = {"DataType": "String", "StringValue": value.get("StringValue", "")}
    message = Message(
        queue=queue,
        message_id=str(uuid.uuid4()),
        body=body,
        attributes=stored,
        system_attributes=system,
        md5_of_body=message_attributes.md5_of_body(body),
        md5_of_attributes=message_attributes.md5_of_attributes(stored) or "",
        group_id=group_id,
        deduplication_id=deduplication_id,
        sent_at=now,
        visible_at=now + delay,
        hidden=delay > 0,
    )
    sent = Sent(
        message_id=message.message_id,
        md5_of_body=message.md5_of_body,
        md5_of_attributes=message.md5_of_attributes or None,
        md5_of_system_attributes=message_attributes.md5_of_attributes(system),
    )
    return message, sent


def _check_ordering_ids(
    queue: Queue, body, group_id, deduplication_id, delay_seconds, *, batch: bool
) -> tuple[str, str]:
    """MessageGroupId / MessageDeduplicationId / DelaySeconds rules (sqs.md §4.2, §4.3)."""
    if group_id is not None:
        fifo.check_id("MessageGroupId", group_id)
    if not queue.is_fifo:
        if deduplication_id is not None:
            raise errors.InvalidParameterValue(
                f"Value {deduplication_id} for parameter MessageDeduplicationId is invalid. "
                "Reason: The request includes a parameter that is not valid for this queue type.",
                field="MessageDeduplicationId",
            )
        return group_id or "", ""
    if group_id is None:
        missing = errors.InvalidParameterValue if batch else errors.MissingParameter
        raise missing(
            "The request must contain the parameter MessageGroupId.", field="MessageGroupId"
        )
    if delay_seconds:
        raise errors.InvalidParameterValue(
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: The request "
            "include parameter that is not valid for this queue type.",
            field="DelaySeconds",
        )
    return group_id, fifo.deduplication_id(queue, body, deduplication_id)


def _sent_event(
    queue: Queue, message: Message, sender: str, attribute_names: list[str], body: str
) -> dict:
    data = {
        "sender": sender,
        "delay": round(message.visible_at - message.sent_at, 3),
        "attributes": attribute_names,
    }
    if not message.sealed:
        # An excerpt for the log, never of a message the queue keeps encrypted.
        data["body"] = body[:280]
    if queue.is_fifo:
        data.update(
            group=message.group_id,
            deduplication_id=message.deduplication_id,
            sequence_number=fifo.sequence_number(message.pk),
        )
    elif message.group_id:
        data["group"] = message.group_id
    return {
        "kind": "message.sent",
        "queue": queue.name,
        "message_id": message.message_id,
        "data": data,
    }


def _duplicate_event(queue: Queue, original, message: Message, sender: str) -> dict:
    return {
        "kind": "message.deduplicated",
        "queue": queue.name,
        "message_id": original.message_id,
        "data": {
            "sender": sender,
            "group": message.group_id,
            "deduplication_id": message.deduplication_id,
        },
    }


def _store(queue: Queue, prepared: list[tuple[Message, Sent]], sender: str, clock) -> list[Sent]:
    """Save prepared messages; return their Sent results in the same order.

    On a FIFO queue a message whose deduplication id was seen in the last five
    minutes is not stored: its Sent names the first message (sqs.md §4.4).
    """
    messages = [m for m, _ in prepared]
    duplicates: dict[int, object] = {}
    if queue.is_fifo:
        fifo.lock_for_send(queue)
        duplicates = fifo.find_duplicates(queue, messages, now=clock.now())
    stored = [m for i, m in enumerate(messages) if i not in duplicates]
    for m in stored:
        m.sender_id = sender
    recorded = []
    if stored:
        plain = [(sorted(m.attributes), m.body) for m in stored]
        encryption.seal(
            queue, stored, principal=data_keys.principal_of(sender), clock=clock
        )  # KmsDisabled: nothing is stored
        statements.insert(stored)
        tally.record(queue.pk, after=[tally.state(m) for m in stored])
        # Wake long polls first: on_commit hooks run in order, and the event push is slower.
        transaction.on_commit(partial(wakeup.notify, queue.pk), robust=True)
        recorded = [
            _sent_event(queue, m, sender, *shown) for m, shown in zip(stored, plain, strict=True)
        ]
    if queue.is_fifo:
        if stored:
            fifo.remember(queue, stored, now=clock.now())
            fifo.enqueue(queue, stored)
        results = []
        for i, (m, sent) in enumerate(prepared):
            original = duplicates.get(i)
            if original is None:
                results.append(replace(sent, sequence_number=fifo.sequence_number(m.pk)))
                continue
            if isinstance(original, Message):
                original = fifo.Original(original.message_id, fifo.sequence_number(original.pk))
            recorded.append(_duplicate_event(queue, original, m, sender))
            results.append(
                replace(
                    sent,
                    message_id=original.message_id,
                    sequence_number=original.sequence_number,
                    duplicate=True,
                )
            )
    else:
        results = [sent for _, sent in prepared]
    events.record_many(queue.workspace, recorded, clock=clock)
    return results


@transaction.atomic
def send_message(
    queue: Queue,
    *,
    body: str,
    attributes: dict | None = None,
    system_attributes: dict | None = None,
    delay_seconds: int | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    sender: str = "",
    clock,
) -> Sent:
    """Enqueue one message (sqs.md §4). Records `message.sent`; wakes long polls.

    On a FIFO queue a duplicate within five minutes records `message.deduplicated`
    instead and returns the first message's id. Raises MissingParameter,
    InvalidMessageContents, InvalidParameterValue.
    """
    prepared = _prepare(
        queue,
        body=body,
        attributes=attributes,
        system_attributes=system_attributes,
        delay_seconds=delay_seconds,
        group_id=group_id,
        deduplication_id=deduplication_id,
        now=clock.now(),
    )
    return _store(queue, [prepared], sender, clock)[0]


def payload_size(entry: dict) -> int:
    """A message's size as SQS counts it: its body and its attributes' names, types and
    values (a batch entry's shape: "MessageBody", "MessageAttributes")."""
    size = len((entry.get("MessageBody") or "").encode("utf-8"))
    for name, value in (entry.get("MessageAttributes") or {}).items():
        raw = value.get("BinaryValue") or (value.get("StringValue") or "").encode("utf-8")
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode()) + len(raw)
    return size


def _check_fifo_batch(queue: Queue, entries: list[dict]) -> None:
    """A FIFO batch with an entry that lacks its deduplication id or its group fails as a
    whole, before anything is sent: AWS answers the request, not the entry
    (InvalidParameterValue, recorded against AWS; sqs.md §4.3)."""
    for entry in entries:
        if entry.get("MessageDeduplicationId") is None and not queue.content_based_deduplication:
            raise errors.InvalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly",
                field="MessageDeduplicationId",
            )
        if entry.get("MessageGroupId") is None:
            raise errors.InvalidParameterValue(
                "The request must contain the parameter MessageGroupId.", field="MessageGroupId"
            )


@transaction.atomic
def send_message_batch(
    queue: Queue, entries: list[dict], *, sender: str = "", clock
) -> BatchResult:
    """Send up to 10 messages; bad entries fail alone, in `failed` (sqs.md §4.5), except
    a FIFO entry without its group or deduplication id, which fails the request.

    Each entry: {"Id", "MessageBody", "MessageAttributes"?, "MessageSystemAttributes"?,
    "DelaySeconds"?, "MessageGroupId"?, "MessageDeduplicationId"?}. Returns BatchResult
    whose `successful` holds (Id, Sent) pairs; a FIFO batch is enqueued in entry order.
    """
    check_batch_ids([e.get("Id") for e in entries])
    total = sum(payload_size(e) for e in entries)
    if total > MAX_BATCH_BYTES:
        raise errors.BatchRequestTooLong(
            f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
            f"You have sent {total} bytes."
        )
    if queue.is_fifo:
        _check_fifo_batch(queue, entries)
    now = clock.now()
    result = BatchResult()
    prepared, ids = [], []
    for entry in entries:
        try:
            prepared.append(
                _prepare(
                    queue,
                    body=entry.get("MessageBody"),
                    attributes=entry.get("MessageAttributes"),
                    system_attributes=entry.get("MessageSystemAttributes"),
                    delay_seconds=entry.get("DelaySeconds"),
                    group_id=entry.get("MessageGroupId"),
                    deduplication_id=entry.get("MessageDeduplicationId"),
                    now=now,
                    batch=True,
                )
            )
        except errors.AwsError as exc:
            result.failed.append(BatchFailure(entry["Id"], exc.wire_query_code, exc.message))
            continue
        ids.append(entry["Id"])
    if prepared:
        result.successful = list(zip(ids, _store(queue, prepared, sender, clock), strict=True))
    return result
