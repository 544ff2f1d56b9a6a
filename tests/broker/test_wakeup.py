"""Long polls keep working while Redis is away: they poll instead of failing."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from broker import wakeup
from playground.stack import free_port


def test_a_waiter_without_redis_polls_instead_of_failing(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    async def scenario() -> tuple[bool, float]:
        async with wakeup.Waiter(queue_pk=1) as waiter:
            started = time.monotonic()
            woke = await waiter.wait(5.0)
            return woke, time.monotonic() - started

    # A thread of its own: Playwright's sync API leaves a loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        woke, waited = thread.submit(asyncio.run, scenario()).result()
    assert woke is False
    assert waited < 1.0  # a short sleep between tries, not the whole wait


def test_a_waiter_wakes_for_a_send_and_not_for_its_own_subscription():
    """The subscription's confirmation arrives first: it is no wake-up, so a waiter
    with nothing sent waits its whole timeout, and one with a send wakes at once."""

    async def scenario() -> tuple[bool, float, bool, float]:
        async with wakeup.Waiter(queue_pk=987_654) as waiter:
            started = time.monotonic()
            idle = await waiter.wait(0.3)
            idle_for = time.monotonic() - started
            asyncio.get_running_loop().call_later(0.05, wakeup.notify, 987_654)
            started = time.monotonic()
            woke = await waiter.wait(5.0)
            return idle, idle_for, woke, time.monotonic() - started

    with ThreadPoolExecutor(1) as thread:
        idle, idle_for, woke, woke_after = thread.submit(asyncio.run, scenario()).result()
    assert idle is False and idle_for >= 0.29
    assert woke is True and woke_after < 1.0
