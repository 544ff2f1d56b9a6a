"""Message retention: a message older than its queue's MessageRetentionPeriod vanishes.

Age counts from the original SentTimestamp, also after a move to a dead-letter
queue (sqs.md §7). The ticker calls `expire_messages` for each workspace; the
look-up is one query over the (queue, sent_at) index of every queue, so a
workspace with nothing to expire costs one indexed EXISTS per tick. A changed
retention period applies to the messages already there, as on AWS.
"""

from __future__ import annotations

import operator
from functools import reduce

from django.db import transaction
from django.db.models import Q

from broker import events, fifo
from broker.models import Message, Queue


def _due(workspace, now: float):
    thresholds = [
        Q(queue_id=pk, sent_at__lte=now - retention)
        for pk, retention in Queue.objects.filter(workspace=workspace)
        .values_list("pk", "message_retention_period")
    ]
    if not thresholds:
        return None
    return Message.objects.filter(reduce(operator.or_, thresholds))


def expire_messages(workspace, *, clock, limit: int = 500) -> int:
    """Delete up to `limit` messages past retention; record `message.expired` for each."""
    now = clock.now()
    due = _due(workspace, now)
    # Look before taking the write lock (see sqs.announce_returns).
    if due is None or not due.exists():
        return 0
    with transaction.atomic():
        rows = list(due.order_by("sent_at").values_list(
            "pk", "queue_id", "queue__name", "message_id", "sent_at", "group_id")[:limit])
        Message.objects.filter(pk__in=[r[0] for r in rows]).delete()
        for queue in Queue.objects.filter(pk__in={r[1] for r in rows}):
            if queue.is_fifo:
                fifo.settle(queue, {r[5] for r in rows if r[1] == queue.pk}, now=now)
        events.record_many(workspace, [
            {"kind": "message.expired", "queue": name, "message_id": message_id,
             "data": {"sent_at": sent_at, "age": round(now - sent_at, 3)}}
            for _pk, _queue, name, message_id, sent_at, _group in rows
        ], clock=clock)
    return len(rows)
