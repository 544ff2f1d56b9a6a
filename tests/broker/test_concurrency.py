"""A message is never handed to two receivers inside one visibility window.

Several receiver *processes*, each with its own database connection, drain one
queue at the same time through `sqs.receive_messages`, as Daphne requests,
Lambda pollers and scripts do. PostgreSQL keeps them apart with
`SELECT … FOR UPDATE SKIP LOCKED`; SQLite with serialised IMMEDIATE write
transactions on a shared file (tests/services.py makes the test database a file).
The clock does not move, so every hand-out is inside one 300 s window.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from broker import sqs
from broker.clock import ManualClock
from broker.models import Event, Message
from broker.sqs import tally
from tests.factories import counted, make_queue, states_of

RECEIVERS = 6
MESSAGES = 2_000
NOW = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]

# Run in each child: set up Django against the test database, say "ready", wait
# for "go" on stdin so all start together, receive until the queue has nothing
# visible, then print what it got as JSON.
CHILD = """
import django, json, sys, time
django.setup()
from django.db import connection
from broker import sqs
from broker.clock import ManualClock
from broker.models import Queue

queue = Queue.objects.select_related("workspace").get(pk=int(sys.argv[1]))
clock = ManualClock(current=float(sys.argv[2]))
name = sys.argv[3]
connection.ensure_connection()
print("ready", flush=True)
sys.stdin.readline()
got = []
while True:
    batch = sqs.receive_messages(queue, max_number=10, visibility=300, receiver=name,
                                 clock=clock)
    got.extend([m.message_id, m.receipt_handle] for m in batch)
    # Empty can also mean "the rest is locked by others right now": stop only
    # when nothing is visible any more.
    if not batch and sqs.counts(queue, now=clock.now()).visible == 0:
        break
    # A consumer works on what it got before asking again. On SQLite this pause is
    # also what lets the others take the write lock at all: a process that asks
    # again at once wins it back before their busy handlers wake up.
    time.sleep(0.002 if batch else 0.01)
print(json.dumps(got), flush=True)
"""


def _child_env() -> dict[str, str]:
    """The children's settings point at this test run's (test) database."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "playground.settings"}
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    else:
        assert "memory" not in str(name), "the SQLite test database must be a file"
        env["DATABASE_URL"] = f"sqlite:///{name}"
    return env


def _receive_concurrently(queue, n: int, child: str = CHILD) -> dict[str, list[tuple[str, str]]]:
    env = _child_env()
    procs = {
        f"receiver-{i}": subprocess.Popen(
            [sys.executable, "-c", child, str(queue.pk), str(NOW), f"receiver-{i}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    }
    try:
        for name, proc in procs.items():
            line = proc.stdout.readline()
            assert line.strip() == "ready", f"{name} did not start: {line!r}"
        for proc in procs.values():
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = {}
        deadline = time.monotonic() + 120
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert proc.returncode == 0, f"{name} failed with {proc.returncode}"
            results[name] = [tuple(pair) for pair in json.loads(out.strip().splitlines()[-1])]
        return results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _check_each_message_received_exactly_once(workspace):
    clock = ManualClock(current=NOW)
    queue = make_queue(workspace, "Crowded", clock=clock)
    for start in range(0, MESSAGES, 10):
        sqs.send_message_batch(
            queue,
            [{"Id": str(i), "MessageBody": f"job {i}"} for i in range(start, start + 10)],
            clock=clock,
        )
    sent = set(Message.objects.filter(queue=queue).values_list("message_id", flat=True))
    assert len(sent) == MESSAGES

    results = _receive_concurrently(queue, RECEIVERS)

    received = [message_id for pairs in results.values() for message_id, _handle in pairs]
    twice = [m for m, n in Counter(received).items() if n > 1]
    assert twice == [], f"{len(twice)} messages were handed out twice, e.g. {twice[:3]}"
    assert set(received) == sent
    # Several processes really took part: the guarantee was exercised, not bypassed.
    assert sum(1 for pairs in results.values() if pairs) >= 2, {
        k: len(v) for k, v in results.items()
    }
    # The database agrees: one receive each, and one `message.received` event each.
    assert set(Message.objects.filter(queue=queue).values_list("receive_count", flat=True)) == {1}
    events = Counter(
        Event.objects.filter(kind="message.received", message_id__in=sent).values_list(
            "message_id", flat=True
        )
    )
    assert set(events.values()) == {1} and len(events) == MESSAGES
    assert sqs.counts(queue, now=NOW) == sqs.Counts(visible=0, in_flight=MESSAGES, delayed=0)
    assert tally.totals(queue.pk) == states_of(queue)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_receivers_on_postgres_never_get_the_same_message(workspace):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with PLAYGROUND_TEST_DB=postgres (make test does)")
    _check_each_message_received_exactly_once(workspace)


@pytest.mark.django_db(transaction=True)
def test_concurrent_receivers_on_sqlite_never_get_the_same_message(workspace):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant; this run is on PostgreSQL")
    _check_each_message_received_exactly_once(workspace)


# A FIFO consumer: receive, "process" (5 ms, while the batch blocks its groups), delete
# the batch, again, until the queue is empty.
FIFO_CHILD = CHILD.replace(
    """    got.extend([m.message_id, m.receipt_handle] for m in batch)""",
    """    got.extend([m.message_id, m.receipt_handle] for m in batch)
    if batch:
        time.sleep(0.005)
        sqs.delete_message_batch(queue, [{"Id": str(i), "ReceiptHandle": m.receipt_handle}
                                         for i, m in enumerate(batch)], clock=clock)""",
).replace(
    "sqs.counts(queue, now=clock.now()).visible == 0",
    "sqs.counts(queue, now=clock.now()).total == 0",
)
GROUPS = 20
PER_GROUP = 50


def _nonce(handle: str) -> str:
    token = handle[4:]
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")[2]


def _check_fifo_order_and_group_blocking(workspace):
    clock = ManualClock(current=NOW)
    queue = make_queue(workspace, "Orders.fifo", clock=clock, FifoQueue="true")
    order: dict[str, list[str]] = {}  # group -> message ids in send order
    for i in range(PER_GROUP):
        for first in range(0, GROUPS, 10):
            groups = [f"g{g}" for g in range(first, first + 10)]
            result = sqs.send_message_batch(
                queue,
                [
                    {
                        "Id": g,
                        "MessageBody": f"{g}-{i}",
                        "MessageGroupId": g,
                        "MessageDeduplicationId": f"{g}-{i}",
                    }
                    for g in groups
                ],
                clock=clock,
            )
            for group, sent in result.successful:
                order.setdefault(group, []).append(sent.message_id)
    assert sum(len(v) for v in order.values()) == GROUPS * PER_GROUP

    results = _receive_concurrently(queue, RECEIVERS, FIFO_CHILD)

    received = [message_id for pairs in results.values() for message_id, _ in pairs]
    assert sorted(received) == sorted(m for ids in order.values() for m in ids)
    assert sum(1 for pairs in results.values() if pairs) >= 2
    group_of = {m: g for g, ids in order.items() for m in ids}
    in_flight: dict[str, dict[str, str]] = {g: {} for g in order}  # message -> receive nonce
    seen: dict[str, list[str]] = {g: [] for g in order}
    for e in Event.objects.filter(
        kind__in=["message.received", "message.deleted"], queue=queue.name
    ).order_by("pk"):
        group = group_of[e.message_id]
        if e.kind == "message.received":
            nonce = _nonce(e.data["receipt_handle"])
            others = set(in_flight[group].values()) - {nonce}
            assert not others, f"group {group} handed out while a batch of it was in flight"
            in_flight[group][e.message_id] = nonce
            seen[group].append(e.message_id)
        else:
            in_flight[group].pop(e.message_id)
    assert seen == order, "a group was received out of its send order"
    assert tally.totals(queue.pk) == states_of(queue) == tally.Totals()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_fifo_consumers_on_postgres_keep_group_order_and_blocking(workspace):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with PLAYGROUND_TEST_DB=postgres (make test does)")
    _check_fifo_order_and_group_blocking(workspace)


@pytest.mark.django_db(transaction=True)
def test_concurrent_fifo_consumers_on_sqlite_keep_group_order_and_blocking(workspace):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant; this run is on PostgreSQL")
    _check_fifo_order_and_group_blocking(workspace)


# Everything that changes a message's state, at once: each child receives with short
# visibility timeouts, deletes some, hands some back, sends more, announces returns
# and folds the tally, on its own clock. Whatever interleaving happens, the tally
# must still add up to what the rows say.
CHURN_CHILD = """
import django, json, random, sys, time
django.setup()
from broker import sqs
from broker.sqs import tally
from broker.clock import ManualClock
from broker.models import Queue

queue = Queue.objects.select_related("workspace").get(pk=int(sys.argv[1]))
clock = ManualClock(current=float(sys.argv[2]))
rng = random.Random(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
for i in range(60):
    clock.advance(0.4)
    batch = sqs.receive_messages(queue, max_number=10, visibility=rng.choice([0, 1, 2]),
                                 clock=clock)
    for m in batch:
        roll = rng.random()
        if roll < 0.3:
            sqs.delete_message(queue, m.receipt_handle, clock=clock)
        elif roll < 0.45:
            try:
                sqs.change_message_visibility(queue, m.receipt_handle, rng.choice([0, 3]),
                                              clock=clock)
            except Exception:  # visible again and received by another: MessageNotInflight
                pass
    if i % 4 == 0:
        sqs.send_message_batch(queue, [{"Id": str(n), "MessageBody": "more",
                                        "DelaySeconds": rng.choice([0, 1])} for n in range(5)],
                               clock=clock)
    sqs.announce_returns(queue.workspace, clock=clock)
    if i % 10 == 0:
        tally.fold()
    time.sleep(0.002)
print("[]", flush=True)
"""


def _check_the_tally_survives_every_operation_at_once(workspace):
    clock = ManualClock(current=NOW)
    dlq = make_queue(workspace, "Churn-dlq", clock=clock)
    queue = make_queue(
        workspace,
        "Churn",
        clock=clock,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":3}}'),
    )
    for start in range(0, 300, 10):
        sqs.send_message_batch(
            queue,
            [{"Id": str(i), "MessageBody": f"job {i}"} for i in range(start, start + 10)],
            clock=clock,
        )

    _receive_concurrently(queue, RECEIVERS, CHURN_CHILD)

    assert Event.objects.filter(kind="message.deleted").count() > 50  # it really churned
    assert Event.objects.filter(kind="message.moved_to_dlq").exists()
    for q in (queue, dlq):
        assert tally.totals(q.pk) == states_of(q), q.name
    later = NOW + 1000
    assert sqs.counts(queue, now=later) == counted(queue, now=later)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_tally_adds_up_after_concurrent_churn_on_postgres(workspace):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with PLAYGROUND_TEST_DB=postgres (make test does)")
    _check_the_tally_survives_every_operation_at_once(workspace)


@pytest.mark.django_db(transaction=True)
def test_the_tally_adds_up_after_concurrent_churn_on_sqlite(workspace):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant; this run is on PostgreSQL")
    _check_the_tally_survives_every_operation_at_once(workspace)
