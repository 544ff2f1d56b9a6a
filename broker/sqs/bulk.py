"""Many messages at once: for benchmarks, demonstrations of scale and tests of limits.

Sending a million messages through `sqs.send_message_batch` takes minutes; a
bulk INSERT takes seconds. The rows are what a send would store (plain text, a
FIFO group per message, the queue's tally), without a timeline entry each.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from broker import message_attributes, wakeup
from broker.models import Message, MessageGroup, Queue
from broker.sqs import tally

CHUNK = 5000


def fill(
    queue: Queue,
    count: int,
    *,
    now: float,
    groups: int = 0,
    in_flight_for: float = 0,
    body: str = "x" * 256,
) -> None:
    """Add `count` messages sent at `now`.

    `groups` > 0 spreads them over that many message groups (FIFO). With
    `in_flight_for` > 0 each counts as received once and hidden for that many
    seconds, as if a consumer had taken it and not deleted it yet.
    """
    md5 = message_attributes.md5_of_body(body)
    held = in_flight_for > 0
    visible_at = now + in_flight_for if held else now
    done = 0
    while done < count:
        n = min(CHUNK, count - done)
        with transaction.atomic():
            Message.objects.bulk_create(
                [
                    Message(
                        queue=queue,
                        message_id=str(uuid.uuid4()),
                        body=body,
                        md5_of_body=md5,
                        sent_at=now,
                        visible_at=visible_at,
                        hidden=held,
                        receive_count=1 if held else 0,
                        first_received_at=now if held else None,
                        received_at=now if held else None,
                        group_id=f"g{(done + i) % groups}" if groups else "",
                        deduplication_id=uuid.uuid4().hex if groups else "",
                    )
                    for i in range(n)
                ]
            )
            tally.record(queue.pk, after=[(held, held)] * n)
        done += n
    # No event tells the ticker about these messages: mark the workspace for it.
    wakeup.mark_touched(wakeup.touched_key(), [queue.workspace_id])
    if groups:
        MessageGroup.objects.bulk_create(
            [
                MessageGroup(queue=queue, group_id=f"g{g}", ready_at=visible_at)
                for g in range(min(groups, count))
            ],
            ignore_conflicts=True,
        )
