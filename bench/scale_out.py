#!/usr/bin/env python
"""Scale-out check: queue → function under load, a worker killed mid-batch, web restarted.

Not part of `make test` (the compose shape needs a Docker engine). Two shapes:

    python bench/scale_out.py --embedded                 # `make run`'s processes on SQLite
    python bench/scale_out.py --compose "docker compose" # docker-compose.yml, from the repo root
    python bench/scale_out.py --compose "../shared/tools/docker-local compose"   # here

For each number of workers in --workers (default 1,2,3) it creates a queue and a
function behind an SQS trigger, sends --messages messages with boto3, and times
them until the function processed and deleted all of them. In the run with the
most workers it also SIGKILLs one worker while batches are in flight (their
messages must come back after the visibility timeout) and restarts web once.
Then `manage.py audit_queue` reads each queue's timeline: every message deleted
after a receive, none lost, none handed to two receivers inside one visibility
window. Prints one table; exits 1 when an audit fails.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ACCOUNT = "000000000000"
VISIBILITY = 10  # simulated seconds: a killed worker's batch returns after this
SETUP = """
import sys
from broker import clock as clocks, lambdas, sqs, workspaces
ws = workspaces.local_workspace("{account}")
clock = clocks.for_workspace(ws)
queue = sqs.get_queue(ws, "{queue}")
fn = lambdas.create_function(ws, "{queue}-fn", duration=0.2, timeout=3, clock=clock)
lambdas.create_event_source_mapping(queue, fn, batch_size=10, maximum_concurrency=20, clock=clock)
print("ok")
"""


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 8},
            read_timeout=30,
            connect_timeout=5,
        ),
    )


def _sender(endpoint: str, url: str, count: int, offset: int) -> None:
    c = client(endpoint)
    for start in range(0, count, 10):
        n = min(10, count - start)
        c.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": f"order {offset + start + i}"} for i in range(n)
            ],
        )


def send_all(endpoint: str, url: str, total: int, clients: int = 4) -> None:
    ctx = mp.get_context("fork")
    share = [total // clients + (i < total % clients) for i in range(clients)]
    offsets = [sum(share[:i]) for i in range(clients)]
    procs = [
        ctx.Process(target=_sender, args=(endpoint, url, share[i], offsets[i]))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a sender failed with exit code {p.exitcode}")


def depth(c, url: str) -> int:
    a = c.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in a.values())


# --- the two shapes ------------------------------------------------------------------------


class Compose:
    """docker-compose.yml through a compose command; the AWS endpoint on port 8000."""

    endpoint = "http://127.0.0.1:8000"

    def __init__(self, command: str):
        self.command = shlex.split(command)

    def compose(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(
            [*self.command, *args],
            cwd=ROOT,
            check=True,
            text=True,
            stdout=subprocess.PIPE if capture else None,
        )
        return result.stdout if capture else ""

    def up(self, workers: int) -> None:
        self.compose("up", "-d", "--build", "--scale", f"worker={workers}")

    def scale(self, workers: int) -> None:
        self.compose("up", "-d", "--no-recreate", "--scale", f"worker={workers}")

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.command, "exec", "-T", "web", "python", "manage.py", *args],
            cwd=ROOT,
            text=True,
            capture_output=True,
        )

    def kill_one_worker(self) -> str:
        ids = self.compose("ps", "-q", "worker", capture=True).split()
        docker = (
            [*self.command[:-1], "docker"]
            if self.command[-1] == "compose" and "docker-local" in self.command[0]
            else ["docker"]
        )
        subprocess.run([*docker, "kill", ids[0]], check=True, stdout=subprocess.DEVNULL)
        return ids[0][:12]

    def restart_web(self) -> None:
        self.compose("restart", "web")

    def down(self) -> None:
        self.compose("down", "-v")


class Embedded:
    """`make run`'s processes (playground.stack.Stack) on a SQLite file in a temp dir."""

    def __init__(self):
        from playground.stack import Stack, free_port

        self.workdir = Path(tempfile.mkdtemp(prefix="playground-scale-"))
        self.env = {
            "DATABASE_URL": f"sqlite:///{self.workdir / 'db.sqlite3'}",
            "DEBUG": "false",
            "SECRET_KEY": "scale-out-check",
            "LOG_LEVEL": "ERROR",
        }
        self.stack = Stack(port=free_port(), workdir=self.workdir, env=self.env, quiet=True)
        self.endpoint = self.stack.url
        self.py = sys.executable

    def up(self, workers: int) -> None:
        self.stack.workers = 2  # Celery pool processes per worker, as in the compose image
        self.stack.start()
        self.scale(workers)

    def _workers(self) -> list[subprocess.Popen]:
        return [p for name, p in self.stack.procs if name.startswith("worker") and p.poll() is None]

    def scale(self, workers: int) -> None:
        # One Celery process per "worker", as compose runs one container each.
        while len(self._workers()) < workers:
            self.stack.spawn_worker()

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.py, "manage.py", *args],
            cwd=ROOT,
            text=True,
            capture_output=True,
            env={**self.stack.env},
        )

    def kill_one_worker(self) -> str:
        proc = self._workers()[0]
        # The pool processes first, then the main one: what `docker kill` does to a container.
        subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Gone for good, as a killed container: the stack stops watching it.
        self.stack.procs = [(n, p) for n, p in self.stack.procs if p is not proc]
        return f"pid {proc.pid}"

    def restart_web(self) -> None:
        webs = [(name, proc) for name, proc in self.stack.procs if name.startswith("web")]
        for name, proc in webs:
            proc.terminate()
            proc.wait()
            self.stack.procs.remove((name, proc))
            self.stack.spawn_web(name)
        self.stack.wait_ready()

    def down(self) -> None:
        self.stack.stop()


# --- one run -------------------------------------------------------------------------------


def run(shape, workers: int, messages: int, chaos: bool) -> dict:
    shape.scale(workers)
    c = client(shape.endpoint)
    name = f"scale-{workers}w-{int(time.time())}"
    url = c.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY)})[
        "QueueUrl"
    ]
    setup = shape.manage("shell", "-c", SETUP.format(account=ACCOUNT, queue=name))
    if "ok" not in setup.stdout:
        raise RuntimeError(f"setting up the function failed:\n{setup.stdout}{setup.stderr}")
    events = []
    t0 = time.monotonic()
    send_all(shape.endpoint, url, messages)
    sent_in = time.monotonic() - t0
    if chaos:
        # Kill while batches are in flight: they must come back after the timeout.
        while (
            c.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
            == "0"
        ):
            time.sleep(0.05)
        events.append(f"killed worker {shape.kill_one_worker()} at {time.monotonic() - t0:.1f} s")
        shape.restart_web()
        events.append(f"restarted web at {time.monotonic() - t0:.1f} s")
        c = client(shape.endpoint)
        shape.scale(workers)
        events.append(f"worker replaced at {time.monotonic() - t0:.1f} s")
    deadline = time.monotonic() + 900
    while True:
        try:
            left = depth(c, url)
        except Exception:  # web restarting
            left = -1
        if left == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{left} messages still in {name} after 15 minutes")
        time.sleep(0.5)
    took = time.monotonic() - t0
    time.sleep(2)  # let the last deletes' events commit
    audit = shape.manage("audit_queue", ACCOUNT, name)
    report = (
        json.loads(audit.stdout)
        if audit.stdout.strip().startswith("{")
        else {"ok": False, "error": audit.stderr[-500:]}
    )
    return {
        "workers": workers,
        "messages": messages,
        "send_s": sent_in,
        "total_s": took,
        "rate": messages / took,
        "chaos": events,
        "audit": report,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shape_arg = parser.add_mutually_exclusive_group(required=True)
    shape_arg.add_argument("--embedded", action="store_true")
    shape_arg.add_argument("--compose", metavar="COMMAND")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    shape = Embedded() if args.embedded else Compose(args.compose)
    results = []
    try:
        shape.up(counts[0])
        if isinstance(shape, Compose):
            _wait_http(shape.endpoint)
        for n in counts:
            print(f"== {n} worker(s)", file=sys.stderr)
            results.append(run(shape, n, args.messages, chaos=n == max(counts)))
            print(f"   {json.dumps(results[-1])}", file=sys.stderr)
    finally:
        if not args.keep:
            shape.down()
    shape_name = "embedded (SQLite)" if args.embedded else "compose (PostgreSQL)"
    print(f"\n{shape_name}: {args.messages:,} messages per run, function 0.2 s, batch 10")
    print(
        f"{'workers':>7}  {'send s':>7}  {'end-to-end s':>12}  {'msg/s':>7}  "
        f"{'processed':>9}  {'redelivered':>11}  {'lost':>4}  {'overlaps':>8}  audit"
    )
    for r in results:
        a = r["audit"]
        print(
            f"{r['workers']:>7}  {r['send_s']:>7.1f}  {r['total_s']:>12.1f}  {r['rate']:>7.0f}  "
            f"{a.get('processed', '?'):>9}  {a.get('redelivered', '?'):>11}  "
            f"{a.get('lost', '?'):>4}  {a.get('overlaps', '?'):>8}  "
            f"{'ok' if a.get('ok') else 'FAILED'}"
        )
        for e in r["chaos"]:
            print(f"         {e}")
    return (
        0
        if all(
            r["audit"].get("ok") and r["audit"].get("processed") == r["messages"] for r in results
        )
        else 1
    )


def _wait_http(url: str, timeout: float = 180) -> None:
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"nothing answered on {url} in {timeout} s")


if __name__ == "__main__":
    sys.exit(main())
