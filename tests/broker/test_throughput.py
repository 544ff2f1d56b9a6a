"""A FIFO queue's call quota: 300 calls per second of each message action (sqs.md §9)."""

from __future__ import annotations

import time

import pytest

from broker import errors
from broker.sqs import throughput
from tests.factories import make_queue


@pytest.fixture
def second() -> float:
    """A wall second no other test has counted in (far in the future)."""
    return time.time() + 10_000 + time.perf_counter_ns() % 1_000_000


def test_the_301st_call_of_a_second_is_throttled_and_the_next_second_is_free(
    workspace, clock, second
):
    queue = make_queue(workspace, "orders.fifo", clock=clock, FifoQueue="true")
    for _ in range(throughput.CALLS_PER_SECOND):
        throughput.admit(queue, "SendMessage", now=second)
    with pytest.raises(errors.RequestThrottled, match="300 SendMessage calls per second"):
        throughput.admit(queue, "SendMessage", now=second)
    throughput.admit(queue, "ReceiveMessage", now=second)  # each action has its own quota
    throughput.admit(queue, "GetQueueAttributes", now=second)  # not a message action
    throughput.admit(queue, "SendMessage", now=second + 1)


def test_standard_and_high_throughput_queues_are_not_counted(workspace, clock, second):
    standard = make_queue(workspace, "standard", clock=clock)
    high = make_queue(
        workspace,
        "high.fifo",
        clock=clock,
        FifoQueue="true",
        DeduplicationScope="messageGroup",
        FifoThroughputLimit="perMessageGroupId",
    )
    for queue in (standard, high):
        throughput.spend(queue.arn, "SendMessage", calls=10_000, now=second)
        throughput.admit(queue, "SendMessage", now=second)
