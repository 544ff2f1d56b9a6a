"""Counters per wall second in Redis, shared by every server process.

The quotas AWS states per second are counted here: a FIFO queue's 300 calls of each
message action (`broker/sqs/throughput.py`) and an account's KMS request quota
(`broker/kms/keys.py`). Wall seconds, not a workspace's clock: a quota is about how
fast clients call, whatever the simulated time does.
"""

from __future__ import annotations

import time

import redis

from broker import wakeup


def count(
    name: str, *, calls: int = 1, now: float | None = None, client: redis.Redis | None = None
) -> int:
    """Add `calls` to the counter `name` for the wall second of `now`; its total in that second.

    Shared by every server process through Redis.
    """
    second = int(time.time() if now is None else now)
    key = f"playground:{name}:{second}"
    pipe = (client or wakeup.redis_client()).pipeline()
    pipe.incrby(key, calls)
    pipe.expire(key, 60)
    total, _ = pipe.execute()
    return total
