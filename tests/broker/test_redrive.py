"""Dead-letter queue redrive: message move tasks (sqs.md §8)."""

from __future__ import annotations

import pytest

from broker import errors, kms, sqs
from broker.models import Event, MoveTask
from broker.sqs import redrive
from tests.factories import make_queue


def poisoned(workspace, clock, n=3, *, source="orders", dlq="orders-dlq", **attributes):
    """A source queue whose `n` messages all failed once into its dead-letter queue."""
    dead = make_queue(workspace, dlq, clock=clock, **attributes)
    queue = make_queue(
        workspace,
        source,
        clock=clock,
        VisibilityTimeout=5,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dead.arn}","maxReceiveCount":1}}'),
        **attributes,
    )
    for i in range(n):
        sqs.send_message(
            queue,
            body=f"order {i}",
            clock=clock,
            **({"group_id": "g", "deduplication_id": f"d{i}"} if queue.is_fifo else {}),
        )
    assert len(sqs.receive_messages(queue, max_number=10, clock=clock)) == n
    clock.advance(5)
    assert sqs.receive_messages(queue, max_number=10, clock=clock) == []
    assert sqs.counts(dead, now=clock.now()).total == n
    return queue, dead


def test_redrive_returns_messages_to_their_source_at_the_given_rate(workspace, clock):
    queue, dlq = poisoned(workspace, clock, n=5)
    task = redrive.start_move_task(workspace, dlq.arn, rate=2, clock=clock)
    assert task.to_move == 5

    assert redrive.advance_move_tasks(workspace, clock=clock) == 1  # the first right away
    clock.advance(1)
    assert redrive.advance_move_tasks(workspace, clock=clock) == 2
    clock.advance(10)
    assert redrive.advance_move_tasks(workspace, clock=clock) == 2
    task.refresh_from_db()
    assert (task.status, task.moved) == (MoveTask.Status.COMPLETED, 5)
    back = sqs.receive_messages(queue, max_number=10, clock=clock)
    assert sorted(r.body for r in back) == [f"order {i}" for i in range(5)]
    assert all(r.system_attributes["ApproximateReceiveCount"] == "1" for r in back)
    assert all("DeadLetterQueueSourceArn" not in r.system_attributes for r in back)
    assert Event.objects.filter(kind="message.redriven").count() == 5


def test_redrive_to_a_chosen_destination(workspace, clock):
    _queue, dlq = poisoned(workspace, clock, n=2)
    other = make_queue(workspace, "replay", clock=clock)
    redrive.start_move_task(workspace, dlq.arn, destination_arn=other.arn, clock=clock)
    clock.advance(1)
    redrive.advance_move_tasks(workspace, clock=clock)
    assert sqs.counts(other, now=clock.now()).total == 2


def test_only_a_dead_letter_queue_can_be_redriven(workspace, clock):
    plain = make_queue(workspace, "plain", clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="Dead Letter Queue"):
        redrive.start_move_task(workspace, plain.arn, clock=clock)
    with pytest.raises(errors.ResourceNotFoundException):
        redrive.start_move_task(workspace, plain.arn + "-missing", clock=clock)


def test_one_task_at_a_time_per_source(workspace, clock):
    _queue, dlq = poisoned(workspace, clock)
    redrive.start_move_task(workspace, dlq.arn, rate=1, clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="already a task running"):
        redrive.start_move_task(workspace, dlq.arn, clock=clock)


def test_rate_above_five_hundred_is_refused(workspace, clock):
    _queue, dlq = poisoned(workspace, clock)
    with pytest.raises(errors.InvalidParameterValue, match="MaxNumberOfMessagesPerSecond"):
        redrive.start_move_task(workspace, dlq.arn, rate=501, clock=clock)


def test_cancelled_task_keeps_what_it_moved(workspace, clock):
    queue, dlq = poisoned(workspace, clock, n=4)
    task = redrive.start_move_task(workspace, dlq.arn, rate=1, clock=clock)
    redrive.advance_move_tasks(workspace, clock=clock)
    assert redrive.cancel_move_task(workspace, task.handle, clock=clock).moved == 1
    clock.advance(10)
    assert redrive.advance_move_tasks(workspace, clock=clock) == 0
    assert sqs.counts(queue, now=clock.now()).total == 1
    assert sqs.counts(dlq, now=clock.now()).total == 3
    with pytest.raises(errors.ResourceNotFoundException):
        redrive.cancel_move_task(workspace, task.handle, clock=clock)


def test_list_shows_the_newest_tasks_first(workspace, clock):
    _queue, dlq = poisoned(workspace, clock, n=1)
    first = redrive.start_move_task(workspace, dlq.arn, clock=clock)
    redrive.advance_move_tasks(workspace, clock=clock)
    clock.advance(1)
    # The queue has nothing left: the second task completes at its first step.
    second = redrive.start_move_task(workspace, dlq.arn, clock=clock)
    assert [t.handle for t in redrive.list_move_tasks(workspace, dlq.arn, max_results=10)] == [
        second.handle,
        first.handle,
    ]
    assert len(redrive.list_move_tasks(workspace, dlq.arn)) == 1


def test_a_redriven_fifo_message_joins_the_tail_of_its_group(workspace, clock):
    queue, dlq = poisoned(
        workspace, clock, n=1, source="orders.fifo", dlq="dlq.fifo", FifoQueue="true"
    )
    sqs.send_message(queue, body="newer", group_id="g", deduplication_id="n", clock=clock)
    redrive.start_move_task(workspace, dlq.arn, clock=clock)
    redrive.advance_move_tasks(workspace, clock=clock)
    got = sqs.receive_messages(queue, max_number=10, clock=clock)
    assert [r.body for r in got] == ["newer", "order 0"]


def test_a_redrive_fails_when_a_key_it_needs_is_disabled(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    _queue, dlq = poisoned(workspace, clock, n=2, KmsMasterKeyId=key.key_id)
    task = redrive.start_move_task(workspace, dlq.arn, clock=clock)
    kms.set_enabled(workspace, key.key_id, False, clock=clock)
    assert redrive.advance_move_tasks(workspace, clock=clock) == 0
    task.refresh_from_db()
    assert (task.status, task.failure_reason) == (MoveTask.Status.FAILED, "KmsDisabled")
    assert sqs.counts(dlq, now=clock.now()).total == 2  # nothing lost
