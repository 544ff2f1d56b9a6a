"""Waking long polls the moment a message arrives, and the ticker when a workspace changes.

A ReceiveMessage with WaitTimeSeconds must return as soon as a message is
available (sqs.md §5.2). Sending publishes the queue's id on a Redis pub/sub
channel after commit; waiting receivers (API long polls) subscribe to it. No
sleep loop: a receiver wakes on the publish, or when the next delayed or
in-flight message is due, or at its deadline.

The ticker looks only at workspaces with work due (`broker/ticker.py`); a workspace
whose events were committed is marked *touched* in a Redis set, so the ticker
reckons its next due time again. Between its passes the ticker also listens to every
queue's wake-ups (`QueueWakes`), so a trigger's poller starts as a message arrives,
as a long poll returns, not at the next pass. The set is keyed by database, so two stacks that
share a Redis (as the test run's do) never take each other's marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis
import redis.asyncio as aredis
from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)

_sync_client: redis.Redis | None = None


def channel(queue_pk: int) -> str:
    return f"playground:sqs-wake:{queue_pk}"


def redis_client() -> redis.Redis:
    """The server's Redis, shared by every process (also counts FIFO calls: `throughput`)."""
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL)
    return _sync_client


def notify(queue_pk: int) -> None:
    """Tell waiting receivers of a queue to try again (call after commit)."""
    try:
        redis_client().publish(channel(queue_pk), b"1")
    except redis.RedisError:
        # A missed wake costs latency, never a message: waiters also time out.
        log.warning("could not publish a wake-up for queue %s", queue_pk, exc_info=True)


class Waiter:
    """An async subscription to one queue's wake-ups, opened before the first try.

    Subscribing before the first receive closes the gap in which a message could
    arrive between "found nothing" and "started listening". While Redis is away the
    waiter polls: every wait is a short sleep, so the long poll still ends on time and
    finds what arrives, a little later.
    """

    POLL_SECONDS = 0.05  # between tries while there is no subscription

    _pool: dict[int, aredis.ConnectionPool] = {}

    def __init__(self, queue_pk: int):
        self.queue_pk = queue_pk
        self.pubsub = None

    async def __aenter__(self) -> Waiter:
        loop_id = id(asyncio.get_running_loop())
        pool = self._pool.get(loop_id)
        if pool is None:
            pool = self._pool[loop_id] = aredis.ConnectionPool.from_url(settings.REDIS_URL)
        client = aredis.Redis(connection_pool=pool)
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await self.pubsub.subscribe(channel(self.queue_pk))
        except (aredis.RedisError, OSError):
            await self.__aexit__()
            self.pubsub = None
        return self

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` wall seconds for a wake-up; True if one came."""
        if timeout <= 0:
            return False
        if self.pubsub is not None:
            deadline = time.monotonic() + timeout
            try:
                # None before the deadline is the subscription's own confirmation: not
                # a wake-up, so the receiver would only try again for nothing.
                while (left := deadline - time.monotonic()) > 0:
                    if await self.pubsub.get_message(timeout=left) is not None:
                        return True
                return False
            except (aredis.RedisError, OSError):
                pass
        await asyncio.sleep(min(timeout, self.POLL_SECONDS))
        return False

    async def __aexit__(self, *exc) -> None:
        if self.pubsub is None:
            return
        try:
            await self.pubsub.unsubscribe()
            await self.pubsub.aclose()
        except (aredis.RedisError, OSError):
            pass


class QueueWakes:
    """Every queue's wake-ups, for the ticker: one pattern subscription, read between
    passes. While Redis is away it only sleeps: the next pass still finds the work."""

    PATTERN = channel("*")

    def __init__(self):
        self.pubsub = None

    def wait(self, timeout: float) -> set[int]:
        """The queues woken within `timeout` wall seconds (often fewer than asked when
        one came; none when nothing did)."""
        if timeout <= 0:
            return set()
        if self.pubsub is None and not self._subscribe():
            time.sleep(timeout)
            return set()
        woken: set[int] = set()
        try:
            message = self.pubsub.get_message(timeout=timeout)
            while message is not None:  # a burst is taken whole: one poll per queue
                woken.add(int(message["channel"].rsplit(b":", 1)[-1]))
                message = self.pubsub.get_message(timeout=0)
        except (redis.RedisError, OSError, ValueError):
            self.close()
        return woken

    def _subscribe(self) -> bool:
        try:
            self.pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
            self.pubsub.psubscribe(self.PATTERN)
            return True
        except (redis.RedisError, OSError):
            self.close()
            return False

    def close(self) -> None:
        if self.pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self.pubsub.close()
        self.pubsub = None


def touched_key() -> str:
    return f"playground:touched:{connection.settings_dict['NAME']}"


def mark_touched(key: str, workspace_ids) -> None:
    """Mark workspaces whose events were committed (the events' publisher calls this)."""
    try:
        redis_client().sadd(key, *workspace_ids)
    except redis.RedisError:
        log.warning("could not mark workspaces %s for the ticker", workspace_ids, exc_info=True)


def take_touched() -> set[int] | None:
    """The workspaces marked since the last call, unmarked in the same step; None when
    Redis could not be read (marks may have been lost meanwhile)."""
    key = touched_key()
    pipe = redis_client().pipeline(transaction=True)
    pipe.smembers(key)
    pipe.delete(key)
    try:
        members, _ = pipe.execute()
    except redis.RedisError:
        log.warning("could not read the touched workspaces", exc_info=True)
        return None
    return {int(m) for m in members}
