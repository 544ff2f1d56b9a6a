#!/usr/bin/env python
"""FIFO benchmark: FIFO (one group, 100 groups) beside standard, ours beside moto.

Not a test: `python bench/sqs_fifo.py [--quick]` prints a table. Targets, started
here on free loopback ports as `bench/sqs_api.py` starts them: ours on SQLite,
ours on PostgreSQL (fsync on), and moto's server.

- send: SendMessageBatch of 10 from N client processes; FIFO entries carry a
  random group of the queue's groups and a unique deduplication id;
- drain: ReceiveMessage(10) + DeleteMessageBatch until the queue is empty. A FIFO
  group hands out one batch at a time, so one group drains one batch per round
  trip however many consumers there are; 100 groups let them work side by side;
- depth (ours only): ReceiveMessage, GetQueueAttributes (the three counters) and SendMessage
  p50 with 1,000 and with 1,000,000 messages held in a queue (standard, and FIFO
  over 100 groups), filled by `manage.py fill_queue` (a bulk INSERT) so the fill
  takes seconds, not hours. VisibilityTimeout=0 keeps the depth put.
  moto is left out here: its receive scans the queue (see bench/sqs_api.py).

Throughputs are medians of the repeats; latencies pool every call.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue as stdqueue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqs_api import (  # noqa: E402
    BODY,
    ROOT,
    client,
    create_database,
    fmt,
    ms,
    pct,
    start_moto,
    start_ours,
    start_postgres,
)

KINDS = (("standard", 0), ("FIFO, 1 group", 1), ("FIFO, 100 groups", 100))


@dataclass(frozen=True)
class Plan:
    clients: int
    duration: float
    repeats: int
    depths: tuple[int, int]
    depth_calls: int


FULL = Plan(clients=8, duration=10, repeats=3, depths=(1_000, 1_000_000), depth_calls=200)
QUICK = Plan(clients=4, duration=4, repeats=1, depths=(1_000, 100_000), depth_calls=60)


def _entries(groups: int) -> list[dict]:
    entries = []
    for i in range(10):
        entry = {"Id": str(i), "MessageBody": BODY}
        if groups:
            entry["MessageGroupId"] = f"g{random.randrange(groups)}"
            entry["MessageDeduplicationId"] = uuid.uuid4().hex
        entries.append(entry)
    return entries


def _worker(kind: str, endpoint: str, url: str, groups: int, duration: float, barrier, out):
    c = client(endpoint)
    c.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    barrier.wait()
    done = empty = 0
    start = time.monotonic()
    end = start + duration
    while time.monotonic() < end:
        if kind == "send":
            done += len(
                c.send_message_batch(QueueUrl=url, Entries=_entries(groups)).get("Successful", [])
            )
            continue
        messages = c.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            empty += 1
            if empty >= 3:
                break
            continue
        empty = 0
        done += len(
            c.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            ).get("Successful", [])
        )
    out.put((done, start, time.monotonic()))


def run(kind: str, endpoint: str, url: str, groups: int, plan: Plan, duration: float) -> float:
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(plan.clients), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(kind, endpoint, url, groups, duration, barrier, out))
        for _ in range(plan.clients)
    ]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=duration + 120))
    except stdqueue.Empty:
        pass
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    done = sum(r[0] for r in results)
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return done / wall if wall > 0 else 0.0


def new_queue(c, groups: int) -> str:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    if not groups:
        return c.create_queue(QueueName=name)["QueueUrl"]
    return c.create_queue(QueueName=name + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]


def throughput(name: str, endpoint: str, plan: Plan, column: dict) -> None:
    c = client(endpoint)
    for label, groups in KINDS:
        sends, drains = [], []
        for _ in range(plan.repeats):
            url = new_queue(c, groups)
            sends.append(run("send", endpoint, url, groups, plan, plan.duration))
            drains.append(run("drain", endpoint, url, groups, plan, plan.duration * 6))
        column[f"{label}: SendMessageBatch msg/s"] = statistics.median(sends)
        column[f"{label}: drain msg/s"] = statistics.median(drains)
        print(
            f"  [{name}] {label}: send {statistics.median(sends):,.0f} msg/s, "
            f"drain {statistics.median(drains):,.0f} msg/s",
            file=sys.stderr,
        )


def p50_ms(call, times: int) -> float:
    lat = []
    for _ in range(times):
        t0 = time.monotonic()
        call()
        lat.append(time.monotonic() - t0)
    return ms(pct(lat, 0.5))


def depth(name: str, endpoint: str, env: dict, plan: Plan, column: dict) -> None:
    c = client(endpoint)
    counters = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    for label, groups in (KINDS[0], KINDS[2]):
        url, have = new_queue(c, groups), 0
        account, queue = url.rstrip("/").split("/")[-2:]
        for target in plan.depths:
            t0 = time.monotonic()
            subprocess.run(
                [
                    sys.executable,
                    "manage.py",
                    "fill_queue",
                    account,
                    queue,
                    str(target - have),
                    "--groups",
                    str(groups),
                ],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
                env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "playground.settings"},
            )
            have = target

            def receive(url=url):
                got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
                assert got.get("Messages"), "a full queue returned nothing"

            def count(url=url, target=target):
                attrs = c.get_queue_attributes(QueueUrl=url, AttributeNames=counters)
                assert attrs["Attributes"]["ApproximateNumberOfMessages"] == str(target)

            def send(url=url, groups=groups):
                ordering = (
                    {"MessageGroupId": "g0", "MessageDeduplicationId": uuid.uuid4().hex}
                    if groups
                    else {}
                )
                c.send_message(QueueUrl=url, MessageBody="x" * 256, **ordering)

            # The sends last: they add to the queue, which the count checks.
            calls = (("receive", receive), ("GetQueueAttributes (counts)", count), ("send", send))
            for what, call in calls:
                column[f"{label}: {what} p50 ms @{target:,}"] = p50_ms(call, plan.depth_calls)
            have += plan.depth_calls
            print(
                f"  [{name}] {label} @{target:,} (filled in {time.monotonic() - t0:.0f} s): "
                f"receive p50 {column[f'{label}: receive p50 ms @{target:,}']:.1f} ms",
                file=sys.stderr,
            )
        for what in ("receive", "GetQueueAttributes (counts)", "send"):
            small, large = (column[f"{label}: {what} p50 ms @{d:,}"] for d in plan.depths)
            column[f"{label}: {what} p50 ratio @{plan.depths[1]:,} ÷ @{plan.depths[0]:,}"] = (
                large / small
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--targets", default="ours-sqlite,ours-pg,moto")
    parser.add_argument("--depth-only", action="store_true", help="only the depth section (ours)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    targets = [t for t in args.targets.split(",") if t]
    workdir = Path(tempfile.mkdtemp(prefix="playground-bench-fifo-"))
    columns: dict[str, dict] = {}
    began = time.monotonic()
    pg_server = None
    try:
        for target in targets:
            print(f"== {target}", file=sys.stderr)
            column = columns.setdefault(target, {})
            if target == "moto":
                proc, endpoint, _fill = start_moto(workdir)
                try:
                    throughput(target, endpoint, plan, column)
                finally:
                    proc.terminate()
                    proc.wait()
                continue
            if target == "ours-pg":
                pg_server = pg_server or start_postgres(durable=True)[0]
                url = create_database(pg_server, "benchfifo")
            else:
                url = f"sqlite:///{workdir / 'fifo.sqlite3'}"
            own = workdir / target
            own.mkdir()
            stack = start_ours(own, url)
            try:
                if not args.depth_only:
                    throughput(target, stack.url, plan, column)
                depth(
                    target,
                    stack.url,
                    {
                        "DATABASE_URL": url,
                        "REDIS_URL": stack.env["REDIS_URL"],
                        "SECRET_KEY": stack.env["SECRET_KEY"],
                    },
                    plan,
                    column,
                )
            finally:
                stack.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    metrics = [m for col in columns.values() for m in col]
    metrics = list(dict.fromkeys(metrics))
    width = max(len(m) for m in metrics)
    print("\n" + "metric".ljust(width) + "".join(f"{n:>14}" for n in columns))
    for m in metrics:
        print(m.ljust(width) + "".join(f"{fmt(columns[n].get(m)):>14}" for n in columns))
    print(
        f"* {plan.clients} client processes on {os.cpu_count()} cores shared with the server; "
        f"medians of {plan.repeats} run(s) of {plan.duration:g} s; whole run "
        f"{time.monotonic() - began:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
