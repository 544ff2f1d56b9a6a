"""FIFO topics deduplicate at the topic: a publish with a deduplication id seen in the
last five minutes is accepted, answered with the first message's id, and delivered to
nobody (sns.md §6)."""

from __future__ import annotations

import pytest

from broker import sns, sqs
from broker.models import Event, TopicDeduplication
from broker.sqs import fifo
from tests.factories import make_queue

# Deliveries to queues without a Policy that allows them: the test-credential accounts' rules.
pytestmark = pytest.mark.usefixtures("relaxed_rules")


def test_a_duplicate_publish_is_accepted_once_within_five_minutes(workspace, clock):
    topic = sns.create_topic(
        workspace,
        "orders.fifo",
        attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
        clock=clock,
    )
    queue = make_queue(workspace, "orders.fifo", clock=clock, FifoQueue="true")
    sns.subscribe(topic, "sqs", queue.arn, attributes={"RawMessageDelivery": "true"}, clock=clock)

    def publish(body: str):
        return sns.publish(
            topic, message=body, group_id="cart-1", base_url="http://testserver", clock=clock
        )

    first = publish("add mug")
    again = publish("add mug")
    assert again == first
    other = publish("add plate")
    assert other.sequence_number > first.sequence_number
    received = sqs.receive_messages(queue, max_number=10, clock=clock)
    assert [r.body for r in received] == ["add mug", "add plate"]  # the duplicate: not at all
    (duplicate,) = Event.objects.filter(kind="topic.deduplicated")
    assert duplicate.data["message_id"] == first.message_id

    clock.advance(301)
    later = publish("add mug")
    assert later.message_id != first.message_id
    assert fifo.forget_expired(workspace, now=clock.now()) >= 1
    assert TopicDeduplication.objects.filter(topic=topic).count() == 1  # the new one
