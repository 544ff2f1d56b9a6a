"""The Lambda service end to end: the ticker queues tasks, a real Celery worker runs them.

The worker is embedded (celery.contrib.testing) and consumes from the test run's
Redis (tests/services.py); nothing is eager and nothing is mocked. The workspace
clock runs at ×100, so simulated seconds pass in wall hundredths.
"""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from broker import clock as clocks
from broker import sqs, ticker, workspaces
from broker.models import Event, Invocation, Message, Workspace
from playground.celery import app
from tests.factories import make_function, make_mapping, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_workspace():
    workspace = workspaces.create_workspace()
    clocks.set_speed(workspace, 100)
    return Workspace.objects.get(pk=workspace.pk)


@pytest.fixture
def celery_worker():
    app.loader.import_default_modules()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
        yield worker


def tick_until(condition, *, timeout: float = 30.0) -> None:
    """Run the ticker every 50 ms wall, as `manage.py tick` does, until `condition()`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticker.tick_once()
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s")


def test_sent_message_is_processed_and_deleted_by_a_celery_worker(fast_workspace, celery_worker):
    clock = clocks.for_workspace(fast_workspace)
    queue = make_queue(fast_workspace, clock=clock, VisibilityTimeout=30)
    function = make_function(fast_workspace, clock=clock, duration=2, timeout=3)
    make_mapping(queue, function, clock=clock)

    sent = sqs.send_message(queue, body="hello", clock=clock)
    tick_until(lambda: Invocation.objects.filter(status="succeeded").exists())

    invocation = Invocation.objects.get()
    assert invocation.event["Records"][0]["messageId"] == sent.message_id
    assert invocation.finished_at - invocation.started_at == pytest.approx(2)
    assert not Message.objects.exists()
    kinds = list(
        Event.objects.filter(message_id=sent.message_id)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["message.sent", "message.received", "message.deleted"]
    lines = list(
        Event.objects.filter(kind="function.logged")
        .order_by("id")
        .values_list("data__line", flat=True)
    )
    assert lines[1] == "Processing message: hello"
    assert lines[-1].startswith(f"REPORT RequestId: {invocation.request_id}\tDuration: 2000.00 ms")


def test_failed_batch_is_retried_by_the_worker_until_the_dead_letter_queue(
    fast_workspace, celery_worker
):
    clock = clocks.for_workspace(fast_workspace)
    dlq = make_queue(fast_workspace, "orders-dlq", clock=clock)
    queue = make_queue(
        fast_workspace,
        "orders",
        clock=clock,
        VisibilityTimeout=5,
        RedrivePolicy=f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":2}}',
    )
    function = make_function(
        fast_workspace, clock=clock, duration=1, fail_when_body_contains="poison"
    )
    make_mapping(queue, function, clock=clock)

    sqs.send_message(queue, body="poison pill", clock=clock)
    # On a busy machine the second failure may be written after the move to the DLQ
    # (its finish task waits for a worker): wait for both, not for the first.
    tick_until(
        lambda: (
            Message.objects.filter(queue=dlq).exists()
            and not Invocation.objects.filter(status="running").exists()
        )
    )

    assert list(Invocation.objects.values_list("status", flat=True)) == ["failed", "failed"]
