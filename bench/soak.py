#!/usr/bin/env python
"""A soak: senders and receivers on one queue for minutes while processes are killed.

Not a test: it prints what was sent, received, lost and duplicated. Starts
`manage.py play` as `make run` does (SQLite, its own redis-server) in a temporary
directory, then for --seconds: --senders boto3 clients send (SendMessageBatch of 10,
no retries), --receivers clients receive (10 at a time, 60 s visibility) and delete,
and every --kill-every seconds one of play's processes (Daphne, the Celery worker,
the ticker or Redis, in turn) is killed with SIGKILL; play restarts it. Then the queue
is drained.

    .venv/bin/python bench/soak.py                      # 5 minutes
    .venv/bin/python bench/soak.py --seconds 60 --kill-every 10

Lost: acknowledged by SendMessageBatch, never received. Duplicated: one delivery
handed out twice (the same ApproximateReceiveCount received twice); a redelivery
after a visibility timeout (a delete cut off by a kill) is SQS's at-least-once,
counted apart. Exits 1 if any is lost or duplicated.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
VISIBILITY = 60
VICTIMS = ["daphne", "celery", "manage.py tick", "redis-server"]


def client(url: str):
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        # No retries at all (`max_attempts` alone still allows one): a send retried after
        # its answer was lost would be a second message, counted as a duplicate.
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30, connect_timeout=5),
    )


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    try:
        found = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return found + [grandchild for c in found for grandchild in descendants(c)]


def child(play_pid: int, marker: str) -> int | None:
    """The pid of one of play's processes whose command line contains `marker`."""
    for pid in descendants(play_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            return pid
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--receivers", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=20)
    parser.add_argument(
        "--victims", default=",".join(VICTIMS), help="which of play's processes to kill, in turn"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="playground-soak-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}", "DEBUG": "false"}
    env.pop("REDIS_URL", None)
    port = 18000 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    log = open(workdir / "play.log", "w")  # noqa: SIM115
    play = subprocess.Popen(
        [sys.executable, "manage.py", "play", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not healthy(url):
            if time.monotonic() > deadline:
                raise SystemExit(f"play did not start; see {workdir / 'play.log'}")
            time.sleep(0.2)
        return soak(url, play.pid, args)
    finally:
        play.terminate()
        try:
            play.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(play.pid, signal.SIGKILL)
        log.close()


def soak(url: str, play_pid: int, args) -> int:
    queue_url = client(url).create_queue(
        QueueName="soak", Attributes={"VisibilityTimeout": str(VISIBILITY)}
    )["QueueUrl"]
    lock = threading.Lock()
    acked: set[str] = set()
    failed_sends = 0
    # body -> the ApproximateReceiveCount of each time it was received: the same count
    # twice is one delivery handed out twice; a higher one is a redelivery.
    receipts: dict[str, list[int]] = {}
    stop = threading.Event()

    def send(sender: int) -> None:
        nonlocal failed_sends
        sqs = client(url)
        for n in itertools.count():
            if stop.is_set():
                return
            bodies = [f"{sender}-{n}-{i}" for i in range(10)]
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
            try:
                answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except Exception:
                with lock:
                    failed_sends += 1
                time.sleep(0.1)
                continue
            with lock:
                acked.update(bodies[int(entry["Id"])] for entry in answer.get("Successful", []))

    def receive(draining: threading.Event) -> None:
        sqs = client(url)
        while not stop.is_set() or draining.is_set():
            try:
                batch = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
            except Exception:
                time.sleep(0.1)
                continue
            if not batch:
                if draining.is_set():
                    return
                continue
            with lock:
                for message in batch:
                    count = int(message["Attributes"]["ApproximateReceiveCount"])
                    receipts.setdefault(message["Body"], []).append(count)
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ]
            # A delete cut off: they come back after the visibility timeout, received again.
            with contextlib.suppress(Exception):
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)

    not_draining = threading.Event()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(args.senders)]
    threads += [
        threading.Thread(target=receive, args=(not_draining,)) for _ in range(args.receivers)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    kills = []
    victims = itertools.cycle(args.victims.split(","))
    next_kill = started + args.kill_every
    while time.monotonic() - started < args.seconds:
        time.sleep(0.2)
        if args.kill_every and time.monotonic() >= next_kill:
            name = next(victims)
            victim = child(play_pid, name)
            if victim is not None:
                os.kill(victim, signal.SIGKILL)
                kills.append(name)
            next_kill = time.monotonic() + args.kill_every
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    # Drain: what is left, including receipts whose delete was cut off (after 60 s).
    draining = threading.Event()
    draining.set()
    deadline = time.monotonic() + VISIBILITY + 30
    while time.monotonic() < deadline and not healthy(url):
        time.sleep(0.5)
    time.sleep(VISIBILITY + 1)
    drainers = [threading.Thread(target=receive, args=(draining,)) for _ in range(2)]
    for thread in drainers:
        thread.start()
    for thread in drainers:
        thread.join(timeout=600)

    received = set(receipts)
    lost = acked - received
    duplicated = sum(len(counts) - len(set(counts)) for counts in receipts.values())
    redelivered = sum(len(set(counts)) - 1 for counts in receipts.values())
    elapsed = time.monotonic() - started
    print(f"\nSoak: {elapsed:.0f} s, {args.senders} senders, {args.receivers} receivers")
    print(f"killed: {len(kills)} ({', '.join(kills) or 'none'})\n")
    for label, value in (
        ("sent (acknowledged)", len(acked)),
        ("send calls cut off or refused", failed_sends),
        ("received (distinct)", len(received)),
        ("lost", len(lost)),
        ("duplicated inside a visibility window", duplicated),
        ("received again after the window (at-least-once)", redelivered),
        ("received, never acknowledged (a cut-off send that landed)", len(received - acked)),
    ):
        print(f"{label:<58}{value:>10,}")
    return 1 if lost or duplicated else 0


if __name__ == "__main__":
    sys.exit(main())
