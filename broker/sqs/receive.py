"""ReceiveMessage (sqs.md §4): which messages a receive may take (visible, not blocked
by their FIFO group, within the in-flight limit), how they are locked so that no two
receivers get one inside a visibility window, the receive count that moves a message
to its dead-letter queue, and the system attributes answered. Also the developer's
peek, which looks without receiving.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from functools import partial

from django.db import connection, transaction
from django.db.models import F, FloatField, Min, Q, Value
from django.db.models.functions import Coalesce

from broker import errors, events, statements, wakeup
from broker.kms import data_keys, encryption
from broker.models import Message, MessageGroup, Queue
from broker.sqs import fifo, tally
from broker.sqs.attributes import MAX_VISIBILITY
from broker.sqs.lookup import queue_by_arn
from broker.sqs.receipts import receipt_handle
from broker.sqs.tally import counts

# In-flight quotas (sqs.md §6). A standard queue refuses a short poll past its limit
# with OverLimit; a long poll, and any receive on a FIFO queue, just gets nothing.
# AWS's FIFO quota page now says 120,000 too; 20,000 is the limit the exam teaches.
IN_FLIGHT_LIMIT = 120_000


FIFO_IN_FLIGHT_LIMIT = 20_000


SYSTEM_ATTRIBUTE_NAMES = {
    "All",
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
}


@dataclass(frozen=True)
class Received:
    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    md5_of_attributes: str | None
    message_attributes: dict
    system_attributes: dict


def _dead_letter_queue(queue: Queue) -> Queue | None:
    return queue_by_arn(queue.workspace, queue.dead_letter_target_arn)


def _system_attributes(queue: Queue, m: Message) -> dict[str, str]:
    attrs = {
        # The caller is the account itself (no IAM users here): AWS answers its id.
        "SenderId": queue.workspace.account_id,
        "SentTimestamp": str(int(m.sent_at * 1000)),
        "ApproximateReceiveCount": str(m.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int((m.first_received_at or m.sent_at) * 1000)),
    }
    if m.group_id:
        attrs["MessageGroupId"] = m.group_id
    if queue.is_fifo:
        attrs["MessageDeduplicationId"] = m.deduplication_id
        attrs["SequenceNumber"] = fifo.sequence_number(m.pk)
    for name, value in m.system_attributes.items():
        attrs[name] = value["StringValue"] if isinstance(value, dict) else str(value)
    return attrs


def _received(queue: Queue, m: Message, opener: encryption.Opener) -> Received:
    body, attributes = opener.open(m)  # KmsDisabled / KmsNotFound when its key fails
    return Received(
        message_id=m.message_id,
        receipt_handle=receipt_handle(m),
        body=body,
        md5_of_body=m.md5_of_body,
        md5_of_attributes=m.md5_of_attributes or None,
        message_attributes=attributes,
        system_attributes=_system_attributes(queue, m),
    )


def receivable(queue: Queue | int, *, now: float):
    """The queue's visible messages in receive order: a range of (queue, visible_at, id).

    The whole condition is the index's, so a receive reads the first rows and stops,
    with ten messages in the queue or a million sharing one instant. Retention is
    checked on the rows found (see `receive_messages`), so no planner is tempted by
    another index.
    """
    return Message.objects.filter(queue=queue, visible_at__lte=now).order_by("visible_at", "pk")


def _candidates_query(queue_id: int, now: float, *, limit: int, seen: list[int]):
    qs = receivable(queue_id, now=now)
    if seen:
        qs = qs.exclude(pk__in=seen)  # looked at by this receive already, not updated yet
    if connection.features.has_select_for_update_skip_locked:
        # Two receivers never pick the same row: each skips what the other holds.
        qs = qs.select_for_update(skip_locked=True)
    return qs[:limit]


# A receive's first look, compiled once for each batch size (broker/statements.py).
_first_candidates = {
    limit: statements.Select(
        lambda queue_id, now, limit=limit: _candidates_query(queue_id, now, limit=limit, seen=[]),
        queue_id=-1,
        now=-1.5,
    )
    for limit in range(1, 11)
}


def _lock_candidates(queue: Queue, now: float, limit: int, seen: list[int]) -> list[Message]:
    if seen:
        return list(_candidates_query(queue.pk, now, limit=limit, seen=seen))
    return _first_candidates[limit].all(queue_id=queue.pk, now=now)


def _move_to_dead_letter_queue(
    queue: Queue, dlq: Queue, m: Message, now: float, *, opener: encryption.Opener, clock
) -> dict:
    # Sealed for the dead-letter queue's own key (or stored plain if it has none).
    encryption.reseal(dlq, [m], opener=opener, clock=clock)
    m.queue = dlq
    m.receive_count = 0
    m.first_received_at = None
    m.received_at = None
    m.receipt_nonce = ""
    m.hidden = False
    m.visible_at = now
    m.system_attributes = {
        **m.system_attributes,
        "DeadLetterQueueSourceArn": {"DataType": "String", "StringValue": queue.arn},
    }
    m.save(
        update_fields=[
            "queue",
            "receive_count",
            "first_received_at",
            "received_at",
            "receipt_nonce",
            "hidden",
            "visible_at",
            "system_attributes",
            "body",
            "attributes",
            "sealed",
            "sealed_key",
        ]
    )
    if dlq.is_fifo:
        fifo.enqueue(dlq, [m])
    transaction.on_commit(partial(wakeup.notify, dlq.pk), robust=True)
    return {
        "kind": "message.moved_to_dlq",
        "queue": queue.name,
        "message_id": m.message_id,
        "data": {"dlq": dlq.name, "receive_count": queue.max_receive_count},
    }


@transaction.atomic
def receive_messages(
    queue: Queue,
    *,
    max_number: int = 1,
    visibility: int | None = None,
    receiver: str = "",
    attempt_id: str | None = None,
    long_poll: bool = False,
    clock,
) -> list[Received]:
    """Hand out up to `max_number` visible messages, each with a new receipt handle.

    Bumps ApproximateReceiveCount, hides each message for the visibility timeout
    and records `message.received`. A message whose next receive would exceed the
    redrive policy's maxReceiveCount is moved to the dead-letter queue instead
    (`message.moved_to_dlq`) and not returned. Never waits: long polling is the
    caller's loop around this function (see `next_visible_at`).

    On a FIFO queue messages come in group order, a group with a message in
    flight gives nothing more, and a repeated `attempt_id` within five minutes
    returns the same batch with the same handles (sqs.md §9).

    With the queue's in-flight limit reached, a short poll on a standard queue
    raises OverLimit; a `long_poll` or a FIFO queue gets nothing.

    Guarantee: a message is handed to one receiver per visibility window —
    `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, serialised IMMEDIATE write
    transactions on SQLite.
    """
    if not 1 <= max_number <= 10:
        raise errors.InvalidParameterValue(
            f"Value {max_number} for parameter MaxNumberOfMessages is invalid. Reason: Must "
            "be between 1 and 10, if provided."
        )
    if visibility is None:
        visibility = queue.visibility_timeout
    elif not 0 <= visibility <= MAX_VISIBILITY:
        raise errors.InvalidParameterValue(
            f"Value {visibility} for parameter VisibilityTimeout is invalid. Reason: Must "
            f"be between 0 and {MAX_VISIBILITY}, if provided."
        )
    now = clock.now()
    if queue.is_fifo and attempt_id is not None:
        fifo.check_attempt_id(attempt_id)
        retried = fifo.retried_batch(queue, attempt_id, now=now)
        if retried is not None:
            return _hand_out_again(queue, retried, visibility, receiver, now, clock)
    max_number = _room_in_flight(queue, max_number, now=now, long_poll=long_poll)
    if not max_number:
        return []
    dlq = _dead_letter_queue(queue) if queue.has_redrive_policy else None
    opener = encryption.Opener(queue, data_keys.principal_of(receiver), clock=clock)
    picked: list[Message] = []
    recorded: list[dict] = []
    groups: list[str] = []
    left: list[tally.State] = []  # the states of messages moved to the dead-letter queue

    expired_before = now - queue.message_retention_period

    def take(candidates: list[Message]) -> None:
        for m in candidates:
            if m.sent_at <= expired_before:
                continue  # past retention, not swept by the ticker yet: gone for receivers
            if m.hidden:
                # Its return was not announced yet (the ticker had not run).
                recorded.append(
                    {
                        "kind": "message.visible",
                        "queue": queue.name,
                        "message_id": m.message_id,
                        "data": {"reason": "visibility_expired"},
                    }
                )
            if dlq is not None and m.receive_count >= queue.max_receive_count:
                left.append(tally.state(m))
                recorded.append(
                    _move_to_dead_letter_queue(queue, dlq, m, now, opener=opener, clock=clock)
                )
                continue
            picked.append(m)

    if queue.is_fifo:
        candidates, groups = fifo.candidates(
            queue,
            now=now,
            limit=max_number,
            leaving_at=queue.max_receive_count if dlq is not None else None,
        )
        take(candidates)
    else:
        # Over-received messages leave for the DLQ and free their slot: look again.
        seen: list[int] = []
        for _attempt in range(3):
            candidates = _lock_candidates(queue, now, max_number - len(picked), seen)
            seen += [m.pk for m in candidates]
            take(candidates)
            if len(picked) >= max_number or len(candidates) < max_number:
                break
    nonce = secrets.token_hex(8)
    before = [tally.state(m) for m in picked]
    if picked:
        # One UPDATE for the batch. The nonce is per receive, not per message: each
        # handle also names its message, so handles stay distinct.
        Message.objects.filter(pk__in=[m.pk for m in picked]).update(
            receive_count=F("receive_count") + 1,
            first_received_at=Coalesce("first_received_at", Value(now, FloatField())),
            # Hidden (for the ticker to announce its return) only if it is hidden at all:
            # a 0 s receive leaves nothing to announce, and no row for the ticker to lock.
            received_at=now,
            receipt_nonce=nonce,
            visible_at=now + visibility,
            hidden=visibility > 0,
        )
        for m in picked:
            m.receive_count += 1
            m.first_received_at = m.first_received_at or now
            m.received_at = now
            m.receipt_nonce = nonce
            m.visible_at = now + visibility
            m.hidden = visibility > 0
    tally.record(queue.pk, before=before + left, after=[tally.state(m) for m in picked])
    if left:
        tally.record(dlq.pk, after=tally.shown(len(left)))
    if groups:
        fifo.settle(queue, groups, now=now)
        if attempt_id is not None and picked:
            fifo.remember_attempt(queue, attempt_id, picked, nonce=nonce, now=now)
    results = [_received(queue, m, opener) for m in picked]
    for m, r in zip(picked, results, strict=True):
        recorded.append(
            {
                "kind": "message.received",
                "queue": queue.name,
                "message_id": m.message_id,
                "data": {
                    "receiver": receiver,
                    "receipt_handle": r.receipt_handle,
                    "receive_count": m.receive_count,
                    "visible_at": m.visible_at,
                },
            }
        )
    if recorded:
        # Stamp the timeline with the instant the visibility was computed from.
        events.record_many(queue.workspace, [{"at": now, **e} for e in recorded], clock=clock)
    return results


def in_flight_limit(queue: Queue) -> int:
    return FIFO_IN_FLIGHT_LIMIT if queue.is_fifo else IN_FLIGHT_LIMIT


def _room_in_flight(queue: Queue, wanted: int, *, now: float, long_poll: bool) -> int:
    """How many of `wanted` messages may go in flight now (0 at the queue's limit)."""
    limit = in_flight_limit(queue)
    if tally.totals(queue.pk).held + wanted <= limit:
        return wanted  # the tally's held count is an upper bound: no need to look closer
    room = limit - counts(queue, now=now).in_flight
    if room > 0:
        return min(wanted, room)
    if queue.is_fifo or long_poll:
        return 0
    # AWS's own words for this refusal.
    raise errors.OverLimit(
        "Too many messages have been received without being deleted. Please "
        "delete your received messages or let them timeout before receiving "
        "more."
    )


def _hand_out_again(
    queue: Queue, batch: list[Message], visibility: int, receiver: str, now: float, clock
) -> list[Received]:
    """A retried FIFO receive: the same messages and handles, visibility restarted."""
    before = [tally.state(m) for m in batch]  # locked by `fifo.retried_batch`
    Message.objects.filter(pk__in=[m.pk for m in batch]).update(
        visible_at=now + visibility, hidden=visibility > 0
    )
    for m in batch:
        m.visible_at = now + visibility
        m.hidden = visibility > 0
    tally.record(queue.pk, before=before, after=[tally.state(m) for m in batch])
    fifo.settle(queue, {m.group_id for m in batch}, now=now)
    opener = encryption.Opener(queue, data_keys.principal_of(receiver), clock=clock)
    results = [_received(queue, m, opener) for m in batch]
    events.record_many(
        queue.workspace,
        [
            {
                "kind": "message.received",
                "queue": queue.name,
                "message_id": m.message_id,
                "at": now,
                "data": {
                    "receiver": receiver,
                    "receipt_handle": r.receipt_handle,
                    "receive_count": m.receive_count,
                    "visible_at": m.visible_at,
                    "retried_attempt": True,
                },
            }
            for m, r in zip(batch, results, strict=True)
        ],
        clock=clock,
    )
    return results


PEEK_LIMIT = 1000


PEEK_RECEIPT_HANDLE = "SQS/BACKDOOR/ACCESS"  # what other local emulators answer here


@dataclass(frozen=True)
class Peeked:
    received: Received  # with a placeholder receipt handle: nothing was received
    visible: bool  # receivable now (visible, and on FIFO its group not blocked)
    delayed: bool


def peek_messages(
    queue: Queue,
    *,
    now: float,
    show_invisible: bool = False,
    show_delayed: bool = False,
    limit: int = PEEK_LIMIT,
) -> list[Peeked]:
    """The queue's messages in send order, changing nothing (no receive, no count).

    Receivable ones always; in-flight ones (and on FIFO the messages waiting behind
    them in a blocked group) with `show_invisible`; delayed ones with
    `show_delayed`. At most `limit` (a developer's look, not an export).
    """
    qs = Message.objects.filter(queue=queue)
    in_flight = Q(visible_at__gt=now, receive_count__gt=0)
    delayed = Q(visible_at__gt=now, receive_count=0)
    blocked_groups = (
        set(
            MessageGroup.objects.filter(queue=queue, ready_at__gt=now).values_list(
                "group_id", flat=True
            )
        )
        if queue.is_fifo
        else set()
    )
    if not show_invisible:
        qs = (
            qs.exclude(in_flight).exclude(group_id__in=blocked_groups)
            if blocked_groups
            else qs.exclude(in_flight)
        )
    if not show_delayed:
        qs = qs.exclude(delayed)
    peeked, opener = [], encryption.Opener(queue)
    for m in qs.order_by("pk")[:limit]:
        received = replace(_received(queue, m, opener), receipt_handle=PEEK_RECEIPT_HANDLE)
        is_delayed = m.visible_at > now and not m.receive_count
        peeked.append(
            Peeked(
                received,
                visible=m.visible_at <= now and m.group_id not in blocked_groups,
                delayed=is_delayed,
            )
        )
    return peeked


def next_visible_at(queue: Queue, *, now: float) -> float | None:
    """When a receive could next find something that is hidden now, if ever."""
    if queue.is_fifo:
        return fifo.next_ready_at(queue, now=now)
    return Message.objects.filter(queue=queue, visible_at__gt=now).aggregate(t=Min("visible_at"))[
        "t"
    ]
