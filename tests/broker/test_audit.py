from __future__ import annotations

from broker import events, sqs
from broker.models import Message
from broker.sqs import audit
from tests.factories import make_queue


def test_redelivery_after_the_window_is_not_an_overlap(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    for body in ("a", "b"):
        sqs.send_message(queue, body=body, clock=clock)
    first = sqs.receive_messages(queue, max_number=10, clock=clock)
    sqs.delete_message(queue, first[0].receipt_handle, clock=clock)
    clock.advance(30)
    [again] = sqs.receive_messages(queue, clock=clock)
    sqs.delete_message(queue, again.receipt_handle, clock=clock)

    report = audit.delivery_report(queue)

    assert report.ok
    assert (report.sent, report.received, report.redelivered, report.processed) == (2, 3, 1, 2)
    assert report.lost == [] and report.in_queue == 0


def test_message_still_in_the_queue_is_not_lost(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    sqs.send_message(queue, body="waiting", clock=clock)

    report = audit.delivery_report(queue)

    assert report.ok and report.in_queue == 1 and report.processed == 0


def test_message_that_vanished_without_a_delete_is_lost(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    sent = sqs.send_message(queue, body="gone", clock=clock)
    Message.objects.filter(queue=queue).delete()  # not through the broker: no event

    report = audit.delivery_report(queue)

    assert not report.ok
    assert report.lost == [sent.message_id]


def test_receive_inside_the_previous_window_is_an_overlap(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    sqs.send_message(queue, body="twice", clock=clock)
    [received] = sqs.receive_messages(queue, clock=clock)
    clock.advance(10)
    # What a broken receiver would leave behind: a second hand-out 10 s into the window.
    events.record(
        workspace,
        "message.received",
        queue=queue.name,
        message_id=received.message_id,
        data={"receiver": "rogue", "visible_at": clock.now() + 30},
        clock=clock,
    )

    report = audit.delivery_report(queue)

    assert not report.ok
    [overlap] = report.overlaps
    assert overlap["message_id"] == received.message_id


def test_visibility_change_restarts_the_window(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    sqs.send_message(queue, body="early", clock=clock)
    [received] = sqs.receive_messages(queue, clock=clock)
    sqs.change_message_visibility(queue, received.receipt_handle, 0, clock=clock)
    [again] = sqs.receive_messages(queue, clock=clock)

    report = audit.delivery_report(queue)

    assert report.ok and report.redelivered == 1
    assert again.message_id == received.message_id
