"""FIFO queues: message groups, deduplication, sequence numbers, receive attempts.

`broker.sqs` decides *that* a queue is FIFO and calls these; they hold the FIFO
rules of `shared/reference/sqs.md` §4.3, §4.4 and §9:

- a group is read in order, and while any of its messages is in flight nothing
  more of it is handed out (`MessageGroup.ready_at` carries that);
- a deduplication id seen in the last 5 minutes makes a send a no-op that answers
  with the first message's id and sequence number;
- a ReceiveRequestAttemptId retried within 5 minutes gets the same batch back.

Lock order, so no two writers deadlock: the queue row (senders only), then group
rows in group-id order. Receivers take group rows with SKIP LOCKED and never wait.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Value

from broker import errors
from broker.models import (
    Deduplication,
    Message,
    MessageGroup,
    Queue,
    ReceiveAttempt,
    TopicDeduplication,
)
from broker.sqs import tally

DEDUPLICATION_WINDOW = 300  # seconds (sqs.md §4.4)
ATTEMPT_WINDOW = 300  # seconds (sqs.md §9)
# Alphanumeric and punctuation: every printable ASCII character but the space.
ID_RE = re.compile(r"^[!-~]{1,128}$")
DEDUPLICATION_SCOPES = ("queue", "messageGroup")
THROUGHPUT_LIMITS = ("perQueue", "perMessageGroupId")
SEQUENCE_BASE = 10**19  # AWS's sequence numbers are 20-digit decimal strings


def sequence_number(message_pk: int) -> str:
    return str(SEQUENCE_BASE + message_pk)


def check_id(name: str, value: str) -> None:
    if not ID_RE.match(value or ""):
        raise errors.InvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: {name} can only include "
            "alphanumeric and punctuation characters. 1 to 128 in length.",
            field=name,
        )


def deduplication_id(queue: Queue, body: str, explicit: str | None) -> str:
    if explicit is not None:
        check_id("MessageDeduplicationId", explicit)
        return explicit
    if not queue.content_based_deduplication:
        raise errors.InvalidParameterValue(
            "The queue should either have ContentBasedDeduplication enabled or "
            "MessageDeduplicationId provided explicitly",
            field="MessageDeduplicationId",
        )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# --- sending ------------------------------------------------------------------------


@dataclass(frozen=True)
class Original:
    """The message a duplicate send resolves to."""

    message_id: str
    sequence_number: str


def lock_for_send(queue: Queue) -> None:
    """Serialise sends to one FIFO queue: order, sequence and dedup need one writer.

    FOR NO KEY UPDATE, so rows that only refer to the queue (a receiver's tally
    row, a receive attempt) are still inserted meanwhile.
    """
    Queue.objects.select_for_update(no_key=True).filter(pk=queue.pk).first()


def _scope(queue: Queue, group_id: str) -> str:
    return group_id if queue.deduplication_scope == "messageGroup" else ""


def find_duplicates(queue: Queue, messages: list[Message], *, now: float) -> dict[int, object]:
    """Which of `messages` (in send order) are duplicates, by their index.

    The value is an `Original` from an earlier send, or the earlier `Message` of
    the same call that the duplicate repeats.
    """
    keys = {(_scope(queue, m.group_id), m.deduplication_id) for m in messages}
    known = {
        (d.scope, d.deduplication_id): Original(d.message_id, d.sequence_number)
        for d in Deduplication.objects.filter(
            queue=queue, deduplication_id__in={k[1] for k in keys}, expires_at__gt=now
        )
        if (d.scope, d.deduplication_id) in keys
    }
    duplicates: dict[int, object] = {}
    for index, m in enumerate(messages):
        key = (_scope(queue, m.group_id), m.deduplication_id)
        if key in known:
            duplicates[index] = known[key]
        else:
            known[key] = m
    return duplicates


def remember(queue: Queue, stored: list[Message], *, now: float) -> None:
    """Start the 5-minute window of each stored message's deduplication id."""
    rows = [
        Deduplication(
            queue=queue,
            scope=_scope(queue, m.group_id),
            deduplication_id=m.deduplication_id,
            message_id=m.message_id,
            sequence_number=sequence_number(m.pk),
            expires_at=now + DEDUPLICATION_WINDOW,
        )
        for m in stored
    ]
    # An expired row for the same id is replaced (the queue lock makes this race-free).
    Deduplication.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["queue", "scope", "deduplication_id"],
        update_fields=["message_id", "sequence_number", "expires_at"],
    )


def enqueue(queue: Queue, stored: list[Message]) -> None:
    """Give each new message's group a row; a group that exists keeps its head."""
    first: dict[str, Message] = {}
    for m in stored:
        first.setdefault(m.group_id, m)
    rows = [
        MessageGroup(queue=queue, group_id=g, ready_at=first[g].visible_at) for g in sorted(first)
    ]
    # The no-op update locks an existing row, so a concurrent delete that empties
    # the group waits for this send and then sees its messages (`settle`).
    MessageGroup.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["queue", "group_id"],
        update_fields=["group_id"],
    )


# --- receiving ----------------------------------------------------------------------


def candidates(
    queue: Queue, *, now: float, limit: int, leaving_at: int | None = None
) -> tuple[list[Message], list[str]]:
    """Up to `limit` receivable messages, each group's in order, and the groups read.

    A group is read only when `ready_at <= now` (nothing of it in flight); its
    messages are taken from the head while they are visible. As AWS does, one
    group is drained as far as possible before the next is opened. Messages
    received `leaving_at` times already (bound for the dead-letter queue) come
    along but do not count toward `limit`.
    """
    picked: list[Message] = []
    groups: list[str] = []
    locked: list[int] = []
    counted = 0
    while counted < limit and len(groups) < limit:
        qs = MessageGroup.objects.filter(queue=queue, ready_at__lte=now).exclude(pk__in=locked)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        group = qs.order_by("ready_at", "pk").first()
        if group is None:
            break
        locked.append(group.pk)
        groups.append(group.group_id)
        after = 0
        while counted < limit:
            # Locked (its group already is): the rows' states are the tally's.
            chunk = list(
                Message.objects.select_for_update()
                .filter(queue=queue, group_id=group.group_id, pk__gt=after)
                .order_by("pk")[: limit - counted]
            )
            for m in chunk:
                if m.visible_at > now:
                    break  # delayed: what follows it must wait too
                if m.sent_at <= now - queue.message_retention_period:
                    continue  # expired, the ticker has not swept it yet
                picked.append(m)
                if leaving_at is None or m.receive_count < leaving_at:
                    counted += 1
            else:
                if chunk and counted < limit:
                    after = chunk[-1].pk
                    continue
            break
    return picked, groups


def settle(queue: Queue, group_ids, *, now: float) -> None:
    """Recompute `ready_at` of groups whose messages changed; drop emptied groups.

    In-flight messages are always a prefix of at most 10 of their group (a
    receive takes from the head, and nothing more while they are out), so the
    first ten messages tell when the group can be read next.
    """
    for group_id in sorted(set(group_ids)):
        group = (
            MessageGroup.objects.select_for_update().filter(queue=queue, group_id=group_id).first()
        )
        if group is None:
            continue
        head = list(
            Message.objects.filter(queue=queue, group_id=group_id)
            .order_by("pk")
            .values_list("visible_at", "receive_count")[:10]
        )
        if not head:
            group.delete()
            continue
        in_flight = [v for v, count in head if count and v > now]
        ready_at = max([head[0][0], *in_flight])
        if ready_at != group.ready_at:
            group.ready_at = ready_at
            group.save(update_fields=["ready_at"])


def redelay(queue: Queue, old_delay: int, *, now: float) -> None:
    """Give the messages not received yet the queue's new DelaySeconds, from their send.

    Only messages sent within the longer of the two delays can change state: the
    rest are visible under either, so the (queue, sent_at) index bounds the work
    by what was sent in the last 15 minutes at most, not by the queue's depth. A
    message whose delay now ends earlier stays `hidden` for the ticker to announce.
    """
    new_delay = queue.delay_seconds
    rows = list(
        Message.objects.select_for_update()
        .filter(queue=queue, receive_count=0, sent_at__gt=now - max(old_delay, new_delay))
        .values_list("pk", "hidden", "sent_at", "group_id")
    )
    if not rows:
        return
    pks = [pk for pk, *_ in rows]
    Message.objects.filter(pk__in=pks).update(visible_at=F("sent_at") + Value(float(new_delay)))
    Message.objects.filter(pk__in=pks, sent_at__gt=now - new_delay).update(hidden=True)
    tally.record(
        queue.pk,
        before=[(hidden, False) for _, hidden, _, _ in rows],
        after=[(hidden or sent_at + new_delay > now, False) for _, hidden, sent_at, _ in rows],
    )
    settle(queue, {group for *_, group in rows}, now=now)


def next_ready_at(queue: Queue, *, now: float) -> float | None:
    """When a blocked or delayed group of the queue can next be read, if any."""
    return (
        MessageGroup.objects.filter(queue=queue, ready_at__gt=now)
        .order_by("ready_at")
        .values_list("ready_at", flat=True)
        .first()
    )


# --- receive attempts ----------------------------------------------------------------


def check_attempt_id(value: str) -> None:
    check_id("ReceiveRequestAttemptId", value)


def retried_batch(queue: Queue, attempt_id: str, *, now: float) -> list[Message] | None:
    """The batch an earlier receive with this attempt id returned, if it still stands.

    It stands while every message of it is still held under that receive's
    handle (none deleted, none received again).
    """
    attempt = ReceiveAttempt.objects.filter(
        queue=queue, attempt_id=attempt_id, expires_at__gt=now
    ).first()
    if attempt is None:
        return None
    messages = list(
        Message.objects.select_for_update()
        .filter(queue=queue, pk__in=attempt.message_pks, receipt_nonce=attempt.nonce)
        .order_by("pk")
    )
    if len(messages) != len(attempt.message_pks):
        return None
    return sorted(messages, key=lambda m: attempt.message_pks.index(m.pk))  # as handed out


def remember_attempt(
    queue: Queue, attempt_id: str, messages: list[Message], *, nonce: str, now: float
) -> None:
    ReceiveAttempt.objects.update_or_create(
        queue=queue,
        attempt_id=attempt_id,
        defaults={
            "nonce": nonce,
            "message_pks": [m.pk for m in messages],
            "expires_at": now + ATTEMPT_WINDOW,
        },
    )


# --- housekeeping -------------------------------------------------------------------


def forget_expired(workspace, *, now: float, limit: int = 1000) -> int:
    """Drop a workspace's deduplication and attempt ids whose 5 minutes are over, its
    FIFO topics' deduplication ids too."""
    forgotten = 0
    owned = (
        (Deduplication, "queue__workspace"),
        (ReceiveAttempt, "queue__workspace"),
        (TopicDeduplication, "topic__workspace"),
    )
    for model, owner in owned:
        pks = list(
            model.objects.filter(**{owner: workspace}, expires_at__lte=now).values_list(
                "pk", flat=True
            )[:limit]
        )
        if pks:
            forgotten += model.objects.filter(pk__in=pks).delete()[0]
    return forgotten
