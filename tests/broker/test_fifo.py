"""FIFO queues: groups, order, blocking, deduplication, attempts (sqs.md §4.3, §4.4, §9)."""

from __future__ import annotations

import re

import pytest

from broker import errors, sqs
from broker.models import Deduplication, Event, MessageGroup
from broker.sqs import fifo, retention
from tests.factories import make_queue


def fifo_queue(workspace, clock, name="orders.fifo", **attributes):
    return make_queue(workspace, name, clock=clock, FifoQueue="true", **attributes)


def send(queue, clock, body, group="g1", dedup=None, **kwargs):
    return sqs.send_message(
        queue,
        body=body,
        group_id=group,
        deduplication_id=dedup if dedup is not None else body,
        clock=clock,
        **kwargs,
    )


def bodies(received):
    return [r.body for r in received]


# --- names and attributes ---------------------------------------------------------------


def test_fifo_queue_needs_the_suffix_and_the_attribute_together(workspace, clock):
    with pytest.raises(errors.InvalidParameterValue, match="requires the FifoQueue attribute"):
        make_queue(workspace, "orders.fifo", clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="must end with .fifo suffix"):
        make_queue(workspace, "orders", clock=clock, FifoQueue="true")
    with pytest.raises(errors.InvalidParameterValue, match="1 to 80"):
        fifo_queue(workspace, clock, "q" * 76 + ".fifo")
    assert fifo_queue(workspace, clock, "q" * 75 + ".fifo").is_fifo


def test_fifo_attributes_are_refused_on_a_standard_queue(workspace, clock):
    with pytest.raises(errors.InvalidAttributeName, match="Unknown Attribute FifoQueue"):
        make_queue(workspace, "plain", clock=clock, FifoQueue="false")
    with pytest.raises(errors.InvalidAttributeName, match="ContentBasedDeduplication"):
        make_queue(workspace, "plain", clock=clock, ContentBasedDeduplication="true")
    with pytest.raises(
        errors.InvalidAttributeName, match="DeduplicationScope only when FifoQueue is set to true"
    ):
        make_queue(workspace, "plain", clock=clock, DeduplicationScope="queue")


def test_fifo_queue_type_cannot_be_changed(workspace, clock):
    queue = fifo_queue(workspace, clock)
    with pytest.raises(errors.InvalidAttributeValue, match="Modifying queue type"):
        sqs.set_queue_attributes(queue, {"FifoQueue": "false"}, clock=clock)


def test_fifo_attributes_have_defaults_and_high_throughput_needs_both(workspace, clock):
    queue = fifo_queue(workspace, clock)
    attrs = sqs.get_queue_attributes(queue, ["All"], clock=clock)
    assert {
        k: attrs[k]
        for k in (
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
        )
    } == {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "DeduplicationScope": "queue",
        "FifoThroughputLimit": "perQueue",
    }
    with pytest.raises(errors.InvalidAttributeValue, match="perMessageGroupId"):
        sqs.set_queue_attributes(queue, {"FifoThroughputLimit": "perMessageGroupId"}, clock=clock)
    sqs.set_queue_attributes(
        queue,
        {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"},
        clock=clock,
    )
    attrs = sqs.get_queue_attributes(
        queue, ["DeduplicationScope", "FifoThroughputLimit"], clock=clock
    )
    assert attrs == {
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }


def test_dead_letter_queue_must_be_of_the_same_type(workspace, clock):
    standard_dlq = make_queue(workspace, "dlq", clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="same queue type"):
        fifo_queue(
            workspace,
            clock,
            RedrivePolicy=(f'{{"deadLetterTargetArn":"{standard_dlq.arn}","maxReceiveCount":1}}'),
        )


# --- sending ----------------------------------------------------------------------------


def test_fifo_send_needs_a_group_and_a_deduplication_id(workspace, clock):
    queue = fifo_queue(workspace, clock)
    with pytest.raises(errors.MissingParameter, match="MessageGroupId"):
        sqs.send_message(queue, body="x", deduplication_id="d", clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="ContentBasedDeduplication"):
        sqs.send_message(queue, body="x", group_id="g", clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="MessageGroupId can only include"):
        sqs.send_message(queue, body="x", group_id="has space", deduplication_id="d", clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="not valid for this queue type"):
        send(queue, clock, "x", delay_seconds=5)


def test_deduplication_id_is_refused_on_a_standard_queue(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    with pytest.raises(errors.InvalidParameterValue, match="MessageDeduplicationId"):
        sqs.send_message(queue, body="x", deduplication_id="d", clock=clock)


def test_sequence_numbers_increase_in_send_order(workspace, clock):
    queue = fifo_queue(workspace, clock)
    numbers = [
        int(send(queue, clock, f"m{i}", group=f"g{i % 2}").sequence_number) for i in range(4)
    ]
    assert numbers == sorted(numbers)
    assert all(len(str(n)) == 20 for n in numbers)


def test_duplicate_within_five_minutes_is_absorbed(workspace, clock):
    queue = fifo_queue(workspace, clock)
    first = send(queue, clock, "pay 10", dedup="order-1")
    clock.advance(4 * 60 + 59)
    again = send(queue, clock, "pay 10", dedup="order-1")

    assert again.duplicate
    assert (again.message_id, again.sequence_number) == (first.message_id, first.sequence_number)
    assert sqs.counts(queue, now=clock.now()).total == 1
    assert Event.objects.filter(kind="message.deduplicated", message_id=first.message_id).exists()


def test_deduplication_id_is_accepted_again_after_five_minutes(workspace, clock):
    queue = fifo_queue(workspace, clock)
    first = send(queue, clock, "pay 10", dedup="order-1")
    clock.advance(5 * 60 + 1)
    later = send(queue, clock, "pay 10", dedup="order-1")
    assert not later.duplicate
    assert later.message_id != first.message_id
    assert sqs.counts(queue, now=clock.now()).total == 2


def test_deleted_message_still_deduplicates(workspace, clock):
    queue = fifo_queue(workspace, clock)
    send(queue, clock, "once", dedup="d1")
    [r] = sqs.receive_messages(queue, clock=clock)
    sqs.delete_message(queue, r.receipt_handle, clock=clock)
    assert send(queue, clock, "once", dedup="d1").duplicate
    assert sqs.receive_messages(queue, clock=clock) == []


def test_content_based_deduplication_hashes_the_body(workspace, clock):
    queue = fifo_queue(workspace, clock, ContentBasedDeduplication="true")
    first = sqs.send_message(queue, body="same", group_id="g", clock=clock)
    second = sqs.send_message(queue, body="same", group_id="g", clock=clock)
    other = sqs.send_message(queue, body="different", group_id="g", clock=clock)
    explicit = sqs.send_message(queue, body="same", group_id="g", deduplication_id="x", clock=clock)
    assert second.duplicate and second.message_id == first.message_id
    assert not other.duplicate and not explicit.duplicate


def test_deduplication_scope_message_group_keeps_groups_apart(workspace, clock):
    queue = fifo_queue(workspace, clock, DeduplicationScope="messageGroup")
    send(queue, clock, "a", group="g1", dedup="same")
    assert not send(queue, clock, "b", group="g2", dedup="same").duplicate
    assert send(queue, clock, "c", group="g2", dedup="same").duplicate


def test_batch_duplicates_inside_one_call_are_absorbed_in_order(workspace, clock):
    queue = fifo_queue(workspace, clock)
    result = sqs.send_message_batch(
        queue,
        [
            {"Id": "a", "MessageBody": "one", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
            {"Id": "b", "MessageBody": "two", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
        ],
        clock=clock,
    )
    (a, sent_a), (b, sent_b) = result.successful
    assert (a, b) == ("a", "b")
    assert sent_b.duplicate and sent_b.message_id == sent_a.message_id
    assert not result.failed
    assert bodies(sqs.receive_messages(queue, max_number=10, clock=clock)) == ["one"]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("MessageGroupId", "The request must contain the parameter MessageGroupId."),
        ("MessageDeduplicationId", "either have ContentBasedDeduplication enabled"),
    ],
)
def test_a_fifo_batch_entry_missing_an_id_refuses_the_whole_batch(
    workspace, clock, missing, message
):
    queue = fifo_queue(workspace, clock)
    entry = {"Id": "b", "MessageBody": "two", "MessageGroupId": "g", "MessageDeduplicationId": "e"}
    del entry[missing]
    good = {"Id": "a", "MessageBody": "one", "MessageGroupId": "g", "MessageDeduplicationId": "d"}
    with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
        sqs.send_message_batch(queue, [good, entry], clock=clock)
    assert sqs.receive_messages(queue, max_number=10, clock=clock) == []


def test_forgotten_deduplication_ids_are_swept(workspace, clock):
    queue = fifo_queue(workspace, clock)
    send(queue, clock, "a")
    clock.advance(301)
    assert fifo.forget_expired(workspace, now=clock.now()) == 1
    assert not Deduplication.objects.filter(queue=queue).exists()


# --- receiving --------------------------------------------------------------------------


def test_messages_of_a_group_arrive_in_send_order(workspace, clock):
    queue = fifo_queue(workspace, clock)
    for i in range(5):
        send(queue, clock, f"m{i}")
    assert bodies(sqs.receive_messages(queue, max_number=10, clock=clock)) == [
        "m0",
        "m1",
        "m2",
        "m3",
        "m4",
    ]


def test_group_with_a_message_in_flight_gives_nothing_more(workspace, clock):
    queue = fifo_queue(workspace, clock, VisibilityTimeout=30)
    for i in range(3):
        send(queue, clock, f"a{i}", group="A")
    send(queue, clock, "b0", group="B")

    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["a0"]
    # A is blocked behind a0: only B can be read.
    assert bodies(sqs.receive_messages(queue, max_number=10, clock=clock)) == ["b0"]
    assert sqs.receive_messages(queue, max_number=10, clock=clock) == []


def test_deleting_the_in_flight_message_unblocks_its_group(workspace, clock):
    queue = fifo_queue(workspace, clock)
    send(queue, clock, "a0")
    send(queue, clock, "a1")
    [r] = sqs.receive_messages(queue, clock=clock)
    sqs.delete_message(queue, r.receipt_handle, clock=clock)
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["a1"]


def test_group_comes_back_in_order_after_visibility_expires(workspace, clock):
    queue = fifo_queue(workspace, clock, VisibilityTimeout=30)
    for i in range(3):
        send(queue, clock, f"a{i}")
    assert bodies(sqs.receive_messages(queue, max_number=2, clock=clock)) == ["a0", "a1"]
    clock.advance(29)
    assert sqs.receive_messages(queue, clock=clock) == []
    clock.advance(1)
    again = sqs.receive_messages(queue, max_number=10, clock=clock)
    assert bodies(again) == ["a0", "a1", "a2"]
    assert [r.system_attributes["ApproximateReceiveCount"] for r in again] == ["2", "2", "1"]


def test_extending_one_message_keeps_its_group_blocked(workspace, clock):
    queue = fifo_queue(workspace, clock, VisibilityTimeout=10)
    send(queue, clock, "a0")
    send(queue, clock, "a1")
    [r] = sqs.receive_messages(queue, clock=clock)
    sqs.change_message_visibility(queue, r.receipt_handle, 60, clock=clock)
    clock.advance(30)
    assert sqs.receive_messages(queue, clock=clock) == []
    sqs.change_message_visibility(queue, r.receipt_handle, 0, clock=clock)
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["a0"]


def test_fifo_system_attributes(workspace, clock):
    queue = fifo_queue(workspace, clock)
    sent = send(queue, clock, "hello", group="orders-7", dedup="d-1")
    [r] = sqs.receive_messages(queue, clock=clock)
    assert r.system_attributes["MessageGroupId"] == "orders-7"
    assert r.system_attributes["MessageDeduplicationId"] == "d-1"
    assert r.system_attributes["SequenceNumber"] == sent.sequence_number


def test_expired_receipt_handle_cannot_delete_from_a_fifo_queue(workspace, clock):
    queue = fifo_queue(workspace, clock, VisibilityTimeout=5)
    send(queue, clock, "late")
    [r] = sqs.receive_messages(queue, clock=clock)
    clock.advance(5)
    with pytest.raises(errors.InvalidParameterValue, match="The receipt handle has expired"):
        sqs.delete_message(queue, r.receipt_handle, clock=clock)
    result = sqs.delete_message_batch(
        queue, [{"Id": "x", "ReceiptHandle": r.receipt_handle}], clock=clock
    )
    assert [f.code for f in result.failed] == ["InvalidParameterValue"]
    assert sqs.counts(queue, now=clock.now()).total == 1


def test_retried_receive_attempt_returns_the_same_batch(workspace, clock):
    queue = fifo_queue(workspace, clock, VisibilityTimeout=30)
    for i in range(3):
        send(queue, clock, f"m{i}")
    first = sqs.receive_messages(queue, max_number=2, attempt_id="try-1", clock=clock)
    clock.advance(10)
    retry = sqs.receive_messages(queue, max_number=2, attempt_id="try-1", clock=clock)
    assert [r.receipt_handle for r in retry] == [r.receipt_handle for r in first]
    # The retry restarted the visibility: 29 s later the group is still blocked.
    clock.advance(29)
    assert sqs.receive_messages(queue, clock=clock) == []


def test_receive_attempt_is_new_once_a_message_of_it_is_deleted(workspace, clock):
    queue = fifo_queue(workspace, clock)
    send(queue, clock, "m0")
    send(queue, clock, "m1")
    [r] = sqs.receive_messages(queue, attempt_id="try-1", clock=clock)
    sqs.delete_message(queue, r.receipt_handle, clock=clock)
    assert bodies(sqs.receive_messages(queue, attempt_id="try-1", clock=clock)) == ["m1"]


def test_group_row_says_when_the_group_can_next_be_read(workspace, clock):
    queue = fifo_queue(workspace, clock)
    sqs.send_message_batch(
        queue,
        [
            {
                "Id": f"e{i}",
                "MessageBody": f"a{i}",
                "MessageGroupId": "A",
                "MessageDeduplicationId": f"a{i}",
            }
            for i in range(10)
        ],
        clock=clock,
    )
    send(queue, clock, "b0", group="B")
    sqs.receive_messages(queue, max_number=10, clock=clock)  # A: 10 in flight
    rows = MessageGroup.objects.filter(queue=queue).order_by("group_id")
    assert list(rows.values_list("group_id", "ready_at")) == [
        ("A", clock.now() + 30),
        ("B", clock.now()),
    ]


def test_fifo_message_moves_to_a_fifo_dead_letter_queue_and_keeps_its_group(workspace, clock):
    dlq = fifo_queue(workspace, clock, "orders-dlq.fifo")
    queue = fifo_queue(
        workspace,
        clock,
        VisibilityTimeout=5,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}'),
    )
    send(queue, clock, "poison")
    send(queue, clock, "next")
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["poison"]
    clock.advance(5)
    # poison is over its count: it leaves, and its group goes on with the next message.
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["next"]
    [moved] = sqs.receive_messages(dlq, clock=clock)
    assert moved.body == "poison"
    assert moved.system_attributes["MessageGroupId"] == "g1"


def test_purge_empties_the_groups(workspace, clock):
    queue = fifo_queue(workspace, clock)
    send(queue, clock, "a")
    sqs.purge_queue(queue, clock=clock)
    assert not MessageGroup.objects.filter(queue=queue).exists()
    send(queue, clock, "b")
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["b"]


def test_expired_head_of_a_group_leaves_the_group_to_the_next_message(workspace, clock):
    queue = fifo_queue(workspace, clock, MessageRetentionPeriod=60)
    send(queue, clock, "old")
    clock.advance(30)
    send(queue, clock, "young")
    clock.advance(30)
    assert retention.expire_messages(workspace, clock=clock) == 1
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["young"]


# --- the queue's delay is retroactive on FIFO (sqs.md §2) -----------------------------------


def test_raising_a_fifo_queues_delay_hides_messages_already_waiting(workspace, clock):
    queue = fifo_queue(workspace, clock)
    send(queue, clock, "early")
    clock.advance(10)
    sqs.set_queue_attributes(queue, {"DelaySeconds": "60"}, clock=clock)

    assert sqs.receive_messages(queue, clock=clock) == []  # now 50 s of delay left
    assert sqs.counts(queue, now=clock.now()) == sqs.Counts(visible=0, in_flight=0, delayed=1)
    clock.advance(50)
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["early"]


def test_lowering_a_fifo_queues_delay_releases_waiting_messages_at_once(workspace, clock):
    queue = fifo_queue(workspace, clock, DelaySeconds=300)
    send(queue, clock, "patient")
    clock.advance(5)
    sqs.set_queue_attributes(queue, {"DelaySeconds": "0"}, clock=clock)

    assert sqs.counts(queue, now=clock.now()).visible == 1
    assert sqs.announce_returns(workspace, clock=clock) == 1
    assert Event.objects.filter(kind="message.visible", data__reason="delay_ended").exists()
    assert bodies(sqs.receive_messages(queue, clock=clock)) == ["patient"]


def test_a_standard_queues_delay_is_not_retroactive(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    sqs.send_message(queue, body="early", clock=clock)
    sqs.set_queue_attributes(queue, {"DelaySeconds": "60"}, clock=clock)
    assert [r.body for r in sqs.receive_messages(queue, clock=clock)] == ["early"]
