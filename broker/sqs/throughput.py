"""A FIFO queue's call quota: 300 calls per second of each message action (sqs.md §9).

A FIFO queue whose FifoThroughputLimit is perQueue (the default) takes at most
300 calls of each of SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch)
and ChangeMessageVisibility(Batch) per second; one more is RequestThrottled,
which the SDKs retry after a backoff. Batches are how a FIFO queue carries more:
300 calls of 10 messages are 3,000 messages a second. Standard queues and
perMessageGroupId (high throughput) queues have quotas far above what the
playground can serve, so they are not counted.

The count is kept in Redis per (queue, action, wall second), so every server
process shares it. Wall seconds, not the workspace's clock: the quota is about
how fast clients call, whatever the simulated time does.
"""

from __future__ import annotations

import logging

import redis

from broker import counters, errors
from broker.models import Queue

log = logging.getLogger(__name__)

CALLS_PER_SECOND = 300
ACTIONS = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    }
)


def is_limited(queue: Queue, action: str) -> bool:
    return queue.is_fifo and queue.fifo_throughput_limit == "perQueue" and action in ACTIONS


def spend(
    queue_arn: str,
    action: str,
    *,
    calls: int = 1,
    now: float | None = None,
    client: redis.Redis | None = None,
) -> int:
    """Count `calls` of `action` on the queue in the wall second of `now`; its total so far.

    Keyed by ARN rather than row id, so a test can spend a live server's quota.
    """
    return counters.count(f"fifo-calls:{queue_arn}:{action}", calls=calls, now=now, client=client)


def admit(queue: Queue, action: str, *, now: float | None = None) -> None:
    """One API call of `action` on the queue; RequestThrottled over the quota."""
    if not is_limited(queue, action):
        return
    try:
        total = spend(queue.arn, action, now=now)
    except redis.RedisError:
        log.warning("could not count a FIFO call; letting it through", exc_info=True)
        return
    if total > CALLS_PER_SECOND:
        raise errors.RequestThrottled(
            f"Request is throttled: the FIFO queue {queue.name} takes {CALLS_PER_SECOND} "
            f"{action} calls per second. Batch up to 10 messages per call, or set "
            "FifoThroughputLimit to perMessageGroupId (high throughput)."
        )
