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
