"""`manage.py play` (what `make run` runs) outlives a crash of any of its processes.

The real command runs in its own process group against a SQLite file of its own and
this test run's Redis; processes are killed with SIGKILL, as the probes did, and
the playground is then used through boto3 as before.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest

from playground.stack import free_port
from tests.broker.api.conftest import service_client
from tests.live import own_redis_url

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_play(*, own_redis: bool = False):
    """`manage.py play` in a directory of its own; with `own_redis`, the redis-server it
    starts itself (as `make run` does) instead of the test run's."""
    workdir = Path(tempfile.mkdtemp(prefix="playground-play-"))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}"}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("REDIS_URL")
    if not own_redis:
        env["REDIS_URL"] = own_redis_url()
    log = open(workdir / "play.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "play", "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.url = f"http://127.0.0.1:{port}"
    proc.log = workdir / "play.log"
    try:
        # Started (not only answering): a child that dies while starting stops play.
        wait_until(lambda: "The playground is running" in proc.log.read_text(), timeout=60)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def play():
    with running_play() as proc:
        yield proc


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def wait_until(condition, *, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def child_running(play, marker: str) -> int | None:
    """The pid of play's child whose command line contains `marker`."""
    for pid in children(play.pid):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                return pid
        except FileNotFoundError:
            continue
    return None


def a_trigger_consumes_a_message(url: str) -> None:
    sqs, lam = service_client("sqs", url), service_client("lambda", url)
    name = f"fn-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/consumer-role",
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {"PLAYGROUND_DURATION": "0.1"}},
    )
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    sqs.send_message(QueueUrl=queue_url, MessageBody="order 1")

    def drained():
        counts = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return set(counts.values()) == {"0"}

    wait_until(drained, timeout=30)


@pytest.mark.parametrize("process", ["celery", "manage.py tick", "daphne"])
def test_a_process_killed_with_sigkill_is_restarted_and_the_playground_goes_on(play, process):
    killed = child_running(play, process)
    assert killed is not None, f"play runs no {process!r}"

    os.kill(killed, signal.SIGKILL)
    restarted = wait_until(
        lambda: (pid := child_running(play, process)) not in (None, killed) and pid, timeout=30
    )

    assert play.poll() is None, play.log.read_text()
    wait_until(lambda: healthy(play.url), timeout=30)
    a_trigger_consumes_a_message(play.url)
    assert child_running(play, process) == restarted
    assert "exited with -9; restarting it." in play.log.read_text()


def test_its_own_redis_killed_is_restarted_and_the_playground_goes_on():
    with running_play(own_redis=True) as play:
        killed = child_running(play, "redis-server")
        assert killed is not None, "play started no redis-server"

        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: child_running(play, "redis-server") not in (None, killed), timeout=30)

        assert play.poll() is None, play.log.read_text()
        a_trigger_consumes_a_message(play.url)


def test_the_web_process_killed_under_load_loses_no_acknowledged_message():
    """Four clients send while Daphne is killed: every send that was answered with a
    MessageId is in the queue afterwards, once; a send cut off may or may not be."""
    with running_play() as play:
        sqs = service_client("sqs", play.url)
        queue_url = sqs.create_queue(QueueName="under-load")["QueueUrl"]
        acked, attempted = set(), set()
        lock = threading.Lock()
        stop = threading.Event()

        def send(sender: int) -> None:
            client = service_client("sqs", play.url)
            for n in itertools.count():
                if stop.is_set():
                    return
                body = f"{sender}-{n}"
                with lock:
                    attempted.add(body)
                try:
                    client.send_message(QueueUrl=queue_url, MessageBody=body)
                except Exception:  # cut off by the kill, or refused while Daphne restarts
                    time.sleep(0.05)
                    continue
                with lock:
                    acked.add(body)

        senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for thread in senders:
            thread.start()
        try:
            wait_until(lambda: len(acked) >= 100, timeout=30)
            web = child_running(play, "daphne")
            os.kill(web, signal.SIGKILL)
            wait_until(lambda: child_running(play, "daphne") not in (None, web), timeout=30)
            wait_until(lambda: healthy(play.url), timeout=30)
            before = len(acked)
            wait_until(lambda: len(acked) >= before + 100, timeout=30)  # and on it goes
        finally:
            stop.set()
            for thread in senders:
                thread.join(timeout=30)

        received: list[str] = []
        while batch := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages"):
            received += [message["Body"] for message in batch]

        assert len(received) == len(set(received)), "a message was received twice"
        assert acked <= set(received), f"lost: {sorted(acked - set(received))[:10]}"
        assert set(received) <= attempted
        assert play.poll() is None
