"""Message retention: a message older than its queue's MessageRetentionPeriod vanishes.

Age counts from the original SentTimestamp, also after a move to a dead-letter
queue (sqs.md §7). The ticker calls `expire_messages` for each workspace about
once a wall second; each queue costs one probe of its (queue, sent_at) index, so
a queue of a million young messages costs what an empty one does. Receivers
already skip expired messages, so the sweep only tidies up: the timeline entry
is stamped with the instant the message expired, not when it was swept. A
changed retention period applies to the messages already there, as on AWS.
"""

from __future__ import annotations

from django.db import connection, transaction

from broker import events
from broker.models import Message, Queue
from broker.sqs import fifo, tally


def expire_messages(workspace, *, clock, limit: int = 2000) -> int:
    """Delete up to `limit` messages past retention; record `message.expired` for each."""
    now = clock.now()
    expired = 0
    for queue in Queue.objects.filter(workspace=workspace).select_related("workspace"):
        due = Message.objects.filter(queue=queue, sent_at__lte=now - queue.message_retention_period)
        # Look before taking the write lock (see sqs.announce_returns).
        if expired < limit and due.exists():
            expired += _expire(queue, due, now=now, limit=limit - expired, clock=clock)
    return expired


@transaction.atomic
def _expire(queue: Queue, due, *, now: float, limit: int, clock) -> int:
    due = due.order_by("sent_at")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)  # a receiver's rows: the next sweep's
    rows = list(
        due.values_list("pk", "message_id", "sent_at", "group_id", "hidden", "receive_count")[
            :limit
        ]
    )
    Message.objects.filter(pk__in=[r[0] for r in rows]).delete()
    tally.record(queue.pk, before=[(hidden, count > 0) for *_, hidden, count in rows])
    if queue.is_fifo:
        fifo.settle(queue, {r[3] for r in rows}, now=now)
    retention = queue.message_retention_period
    events.record_many(
        queue.workspace,
        [
            {
                "kind": "message.expired",
                "queue": queue.name,
                "message_id": message_id,
                "at": min(now, sent_at + retention),
                "data": {"sent_at": sent_at, "age": retention},
            }
            for _pk, message_id, sent_at, *_ in rows
        ],
        clock=clock,
    )
    return len(rows)
