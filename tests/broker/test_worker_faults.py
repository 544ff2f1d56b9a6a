"""A Celery worker killed in the middle of a task stalls the pipeline for seconds only.

A real `celery worker` (prefork, one pool process) runs against this test run's
database and Redis. The test holds a row lock the task needs, so the kill lands
while the task is inside its transaction, not before or after it: the moment the
database shows the worker's connection waiting on that lock. Without recovery the
step's claim would stand until the ticker calls it stale (REQUEST_STALE_AFTER, 30
wall seconds) and the batch would sit in flight that long.

PostgreSQL only: it is what shows the waiting connection (pg_stat_activity).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from broker import clock as clocks
from broker import sqs, ticker, workspaces
from broker.lambdas import REQUEST_STALE_AFTER
from broker.models import Database, Invocation, Message
from broker.pipeline import databases
from tests.broker.test_ticker import tick_until
from tests.factories import make_function, make_mapping, make_queue

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_url():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with PLAYGROUND_TEST_DB=postgres (make test does)")
    return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{connection.settings_dict['NAME']}"


@pytest.fixture
def start_worker(postgres_url):
    """Starts `celery worker` with one pool process, as `manage.py play` runs it,
    in a process group of its own (so the whole worker can be killed at once)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "playground.settings"}
    env["DATABASE_URL"] = postgres_url
    started = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "playground", "worker", "--pool=prefork"]
            + ["--concurrency=1", "--without-heartbeat", "--without-gossip", "--without-mingle"]
            + ["--loglevel=WARNING"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def prefork_worker(start_worker):
    return start_worker()


def pool_process(worker: subprocess.Popen) -> int:
    """The pid of the worker's pool process: a fork of the worker (the same command
    line), not a program the worker runs while it starts (`uname -p` for its banner)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # Read each time: until the worker has exec'd, it still shows pytest's.
        own = Path(f"/proc/{worker.pid}/cmdline").read_bytes()
        for child in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split():
            try:
                if Path(f"/proc/{child}/cmdline").read_bytes() == own:
                    return int(child)
            except OSError:  # it ended meanwhile
                continue
        time.sleep(0.05)
    raise AssertionError("the worker started no pool process")


def wait_for_a_backend_waiting_on_a_lock(conn) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()[0]
        if waiting:
            return
        ticker.tick_once()
        time.sleep(0.05)
    raise AssertionError("no task came to wait on the lock")


def a_batch_waiting_on_its_database(postgres_url, *, killed):
    """A batch whose finish waits on a lock on its database node when `killed()` runs;
    the lock is released after it. Returns the queue and the database node."""
    workspace = workspaces.create_workspace()
    clock = clocks.for_workspace(workspace)  # ×1: wall seconds are simulated seconds
    queue = make_queue(workspace, "orders", clock=clock, VisibilityTimeout=30)
    database = databases.create_database(workspace, "orders-db", clock=clock)
    function = make_function(workspace, clock=clock, duration=1, timeout=3, database="orders-db")
    make_mapping(queue, function, clock=clock)
    with psycopg.connect(postgres_url) as lock:
        # The finish writes its record to the database node first: it waits here.
        lock.execute("SELECT 1 FROM broker_database WHERE id = %s FOR UPDATE", [database.pk])
        sqs.send_message(queue, body="order 1", clock=clock)
        with psycopg.connect(postgres_url, autocommit=True) as watcher:
            wait_for_a_backend_waiting_on_a_lock(watcher)
        killed()
        lock.rollback()
    return queue, database


def finished_once(queue) -> bool:
    return (
        Invocation.objects.filter(status="succeeded").exists()
        and not Message.objects.filter(queue=queue).exists()
    )


def test_a_pool_process_killed_mid_finish_does_not_stall_the_batch(prefork_worker, postgres_url):
    pool_pid = pool_process(prefork_worker)

    queue, database = a_batch_waiting_on_its_database(
        postgres_url, killed=lambda: os.kill(pool_pid, signal.SIGKILL)
    )
    took = tick_until(ticker, lambda: finished_once(queue), timeout=REQUEST_STALE_AFTER - 5)

    # Finished once, by the task the killed process had, given to the next one at once.
    assert list(Invocation.objects.values_list("status", flat=True)) == ["succeeded"]
    assert Database.objects.get(pk=database.pk).writes == 1
    assert took < 10, f"the batch waited {took:.1f} s after the kill"


def test_a_whole_worker_killed_mid_finish_stalls_the_batch_only_until_a_new_one_starts(
    start_worker, postgres_url
):
    worker = start_worker()
    pool_process(worker)

    def kill_the_whole_worker():
        os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool: kill -9
        worker.wait()

    queue, database = a_batch_waiting_on_its_database(postgres_url, killed=kill_the_whole_worker)
    start_worker()  # as the supervisor of `manage.py play`, or compose, restarts it
    took = tick_until(ticker, lambda: finished_once(queue), timeout=REQUEST_STALE_AFTER - 5)

    assert list(Invocation.objects.values_list("status", flat=True)) == ["succeeded"]
    assert Database.objects.get(pk=database.pk).writes == 1
    assert took < 15, f"the batch waited {took:.1f} s after the kill"
