"""A queue's counts come from its tally, and the tally follows every change of state.

After each operation the tally must add up to what the rows say, and
`sqs.counts` must equal what counting every message would give.
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from broker import sqs
from broker.models import Message, QueueTally
from broker.sqs import redrive, retention, tally
from tests.factories import counted, make_queue, states_of


def agree(*queues, clock) -> None:
    for queue in queues:
        assert tally.totals(queue.pk) == states_of(queue), queue.name
        assert sqs.counts(queue, now=clock.now()) == counted(queue, now=clock.now()), queue.name


def send(queue, n, *, clock, **options):
    for i in range(n):
        sqs.send_message(queue, body=f"m{i}", clock=clock, **options)


def test_counts_follow_sends_receives_deletes_and_visibility_changes(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    send(queue, 6, clock=clock)
    send(queue, 2, clock=clock, delay_seconds=10)
    agree(queue, clock=clock)
    assert sqs.counts(queue, now=clock.now()) == sqs.Counts(visible=6, in_flight=0, delayed=2)

    first, second, third = sqs.receive_messages(queue, max_number=3, clock=clock)
    [glance] = sqs.receive_messages(queue, visibility=0, clock=clock)
    agree(queue, clock=clock)
    assert sqs.counts(queue, now=clock.now()).in_flight == 3

    sqs.delete_message(queue, first.receipt_handle, clock=clock)
    sqs.delete_message(queue, first.receipt_handle, clock=clock)  # gone: a no-op
    sqs.delete_message(queue, glance.receipt_handle, clock=clock)  # visible when deleted
    sqs.change_message_visibility(queue, second.receipt_handle, 0, clock=clock)
    sqs.change_message_visibility(queue, third.receipt_handle, 100, clock=clock)
    agree(queue, clock=clock)
    assert sqs.counts(queue, now=clock.now()) == sqs.Counts(visible=3, in_flight=1, delayed=2)


def test_returns_count_as_visible_before_and_after_the_ticker_announces_them(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    send(queue, 3, clock=clock)
    send(queue, 2, clock=clock, delay_seconds=10)
    sqs.receive_messages(queue, max_number=2, clock=clock)

    clock.advance(31)  # delays and visibility timeouts over, nothing announced yet
    assert sqs.counts(queue, now=clock.now()) == sqs.Counts(visible=5, in_flight=0, delayed=0)
    agree(queue, clock=clock)
    assert sqs.announce_returns(workspace, clock=clock) == 4
    agree(queue, clock=clock)
    assert tally.totals(queue.pk) == tally.Totals(messages=5)


def test_a_receive_of_an_unannounced_return_moves_it_once(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    send(queue, 1, clock=clock, delay_seconds=5)
    clock.advance(5)
    sqs.receive_messages(queue, clock=clock)  # delayed -> held without an announcement
    clock.advance(30)
    sqs.receive_messages(queue, clock=clock)  # held -> held again
    assert sqs.announce_returns(workspace, clock=clock) == 0
    agree(queue, clock=clock)
    assert tally.totals(queue.pk) == tally.Totals(messages=1, held=1)


def test_dead_letter_moves_purges_and_expiry_keep_both_queues_counted(workspace, clock):
    dlq = make_queue(workspace, "dlq", clock=clock)
    queue = make_queue(
        workspace,
        clock=clock,
        VisibilityTimeout=5,
        MessageRetentionPeriod=60,
        RedrivePolicy=f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}',
    )
    send(queue, 4, clock=clock)
    sqs.receive_messages(queue, max_number=10, clock=clock)
    clock.advance(5)
    assert sqs.receive_messages(queue, max_number=10, clock=clock) == []  # all moved
    agree(queue, dlq, clock=clock)
    assert sqs.counts(dlq, now=clock.now()).visible == 4

    task = redrive.start_move_task(workspace, dlq.arn, rate=2, clock=clock)
    redrive.advance_move_tasks(workspace, clock=clock)
    agree(queue, dlq, clock=clock)
    assert task.to_move == 4 and sqs.counts(queue, now=clock.now()).visible == 1

    send(queue, 2, clock=clock, delay_seconds=900)
    clock.advance(55)  # the redriven message keeps its first SentTimestamp: 60 s old
    assert retention.expire_messages(workspace, clock=clock) == 1
    agree(queue, dlq, clock=clock)
    assert sqs.purge_queue(dlq, clock=clock) == 3
    assert sqs.purge_queue(queue, clock=clock) == 2
    agree(queue, dlq, clock=clock)
    assert tally.totals(queue.pk) == tally.totals(dlq.pk) == tally.Totals()


def test_fifo_receives_and_retried_attempts_are_counted_once(workspace, clock):
    queue = make_queue(
        workspace, "jobs.fifo", clock=clock, FifoQueue="true", ContentBasedDeduplication="true"
    )
    for i in range(4):
        sqs.send_message(queue, body=f"job {i}", group_id=f"g{i % 2}", clock=clock)
    sqs.send_message(queue, body="job 0", group_id="g0", clock=clock)  # absorbed duplicate
    agree(queue, clock=clock)
    batch = sqs.receive_messages(queue, max_number=10, attempt_id="a1", clock=clock)
    again = sqs.receive_messages(queue, max_number=10, attempt_id="a1", clock=clock)
    assert [r.message_id for r in again] == [r.message_id for r in batch]
    agree(queue, clock=clock)
    assert sqs.counts(queue, now=clock.now()) == sqs.Counts(visible=0, in_flight=4, delayed=0)
    sqs.delete_message_batch(
        queue,
        [{"Id": str(i), "ReceiptHandle": r.receipt_handle} for i, r in enumerate(batch)],
        clock=clock,
    )
    agree(queue, clock=clock)
    assert tally.totals(queue.pk) == tally.Totals()


def test_folding_keeps_the_sums_and_leaves_one_row(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    send(queue, 5, clock=clock, delay_seconds=3)
    sqs.receive_messages(queue, clock=clock, max_number=10)
    clock.advance(3)
    sqs.receive_messages(queue, clock=clock, max_number=2)
    before = tally.totals(queue.pk)
    assert QueueTally.objects.filter(queue=queue).count() > 1
    assert tally.fold() > 0
    assert QueueTally.objects.filter(queue=queue).count() == 1
    assert tally.totals(queue.pk) == before
    agree(queue, clock=clock)


def test_counting_a_queue_reads_its_tally_not_its_messages(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    now = clock.now()
    Message.objects.bulk_create(
        [
            Message(
                queue=queue,
                message_id=str(i),
                body="x",
                md5_of_body="x",
                sent_at=now,
                visible_at=now,
            )
            for i in range(5000)
        ]
    )
    tally.record(queue.pk, after=tally.shown(5000))
    with CaptureQueriesContext(connection) as queries:
        assert sqs.counts(queue, now=now).visible == 5000
    # The tally's rows, and the hidden rows that came due: two indexed look-ups.
    assert len(queries) == 2
    hidden_due = queries[1]["sql"]
    assert '"hidden"' in hidden_due and '"visible_at" <=' in hidden_due, hidden_due
