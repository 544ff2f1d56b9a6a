"""Producers: an app or API Gateway calling on a schedule, with peak hours; through a
queue nothing is lost, called directly a busy or failing function loses requests."""

from __future__ import annotations

import json
import time

import pytest

from broker import arns, costs, errors, lambdas, sns
from broker.kms import encryption
from broker.models import Event, Invocation, Message, Producer
from broker.pipeline import databases, producers
from tests.broker.test_lambdas import run_lambda_service
from tests.factories import make_function, make_queue


def bodies(queue) -> list[str]:
    """The queue's message bodies, opened (SSE seals them at rest), oldest first."""
    opener = encryption.Opener(queue)
    return [opener.open(m)[0] for m in Message.objects.filter(queue=queue).order_by("id")]


def run(workspace, clock, seconds: int, *, step: float = 1.0) -> None:
    """Let simulated time pass as the ticker and the workers would, `step` at a time."""
    for _ in range(int(seconds / step)):
        clock.advance(step)
        for pk in producers.claim_due(workspace, clock=clock, wall_now=time.time()):
            producers.produce(pk, clock=clock)
        run_lambda_service(workspace, clock)


def test_a_producer_sends_at_its_rate_with_numbered_bodies(workspace, clock):
    queue = make_queue(workspace, "OrdersQueue", clock=clock)
    producer = producers.create_producer(
        workspace, "shop", target_arn=queue.arn, rate=2, clock=clock
    )
    run(workspace, clock, 10)
    assert bodies(queue) == [f'{{"order": {n}}}' for n in range(1, 21)]
    producer.refresh_from_db()
    assert (producer.made, producer.sent, producer.lost, producer.dropped) == (20, 20, 0, 0)
    sent = Event.objects.filter(kind="message.sent").first()
    assert sent.data["sender"] == "producer:shop"
    assert costs.usage(workspace)["sqs_requests"] == 10  # one SendMessageBatch a second


def test_a_rate_below_one_a_second_carries_its_fraction(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producers.create_producer(workspace, "slow", target_arn=queue.arn, rate=0.25, clock=clock)
    run(workspace, clock, 10, step=0.5)
    assert Message.objects.filter(queue=queue).count() == 2


def test_the_peak_hour_sends_at_the_peak_rate(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producer = producers.create_producer(
        workspace,
        "shop",
        target_arn=queue.arn,
        rate=1,
        peak_rate=10,
        peak_every=60,
        peak_length=10,
        clock=clock,
    )
    assert producers.expected(producer, producer.started_at, producer.started_at + 60) == 150
    assert producers.expected(producer, producer.started_at + 5, producer.started_at + 65) == 150
    run(workspace, clock, 60)
    assert Message.objects.filter(queue=queue).count() == 150


def test_a_producer_with_only_peaks_is_quiet_between_them(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producers.create_producer(
        workspace,
        "burst",
        target_arn=queue.arn,
        rate=0,
        peak_rate=5,
        peak_every=30,
        peak_length=2,
        clock=clock,
    )
    run(workspace, clock, 30)
    assert Message.objects.filter(queue=queue).count() == 10
    run(workspace, clock, 1)
    assert Message.objects.filter(queue=queue).count() == 15


def test_a_direct_call_to_a_busy_function_is_throttled_and_lost(workspace, clock):
    function = make_function(workspace, clock=clock, duration=5, timeout=10)
    lambdas.set_reserved_concurrency(function, 1, clock=clock)
    producer = producers.create_producer(
        workspace, "api", target_arn=function.arn, rate=1, clock=clock
    )
    run(workspace, clock, 10)
    producer.refresh_from_db()
    # One call runs at a time for 5 s: each of the others finds no room.
    assert Invocation.objects.filter(producer=producer).count() == 2
    assert producer.made == 10
    assert producer.lost == 8
    assert producer.last_error.startswith("TooManyRequestsException")
    assert producer.sent == 1  # the first run has ended, the second is running


def test_a_direct_call_to_a_failing_function_is_lost_where_a_queue_holds_it(workspace, clock):
    db = databases.create_database(workspace, "orders-db", clock=clock)
    databases.set_down(db, clock=clock)
    direct = make_function(
        workspace, "direct", clock=clock, duration=1, timeout=3, database="orders-db"
    )
    producer = producers.create_producer(
        workspace, "api", target_arn=direct.arn, rate=1, clock=clock
    )
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=10)
    queued = producers.create_producer(workspace, "app", target_arn=queue.arn, rate=1, clock=clock)
    run(workspace, clock, 6)
    producer.refresh_from_db()
    queued.refresh_from_db()
    # Six calls, one a second; each run fails 1.01 s later (a second and a write), seen
    # at the next whole second: the first four have ended.
    assert (producer.made, producer.sent, producer.lost) == (6, 0, 4)
    assert Event.objects.filter(kind="producer.request_lost").count() == 4
    assert (queued.sent, queued.lost) == (6, 0)
    assert Message.objects.filter(queue=queue).count() == 6


def test_a_producer_publishes_to_a_topic(workspace, clock, relaxed_rules):
    topic = sns.create_topic(workspace, "orders", clock=clock)
    queue = make_queue(workspace, clock=clock)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    producers.create_producer(workspace, "shop", target_arn=topic.arn, rate=3, clock=clock)
    run(workspace, clock, 2)
    [first, *rest] = bodies(queue)
    assert len(rest) == 5
    assert json.loads(first)["Message"] == '{"order": 1}'


def test_a_producer_to_a_fifo_queue_keeps_one_group_in_order(workspace, clock):
    queue = make_queue(workspace, "orders.fifo", clock=clock, FifoQueue="true")
    producers.create_producer(workspace, "shop", target_arn=queue.arn, rate=5, clock=clock)
    run(workspace, clock, 2)
    assert bodies(queue) == [f'{{"order": {n}}}' for n in range(1, 11)]
    assert set(Message.objects.filter(queue=queue).values_list("group_id", flat=True)) == {"shop"}


def test_a_clock_faster_than_the_engine_drops_what_one_run_cannot_make(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producer = producers.create_producer(
        workspace, "flood", target_arn=queue.arn, rate=1000, clock=clock
    )
    run(workspace, clock, 1)
    producer.refresh_from_db()
    assert (producer.made, producer.dropped) == (producers.RUN_LIMIT, 1000 - producers.RUN_LIMIT)


def test_a_stopped_producer_makes_nothing_and_does_not_catch_up(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producer = producers.create_producer(
        workspace, "shop", target_arn=queue.arn, rate=1, clock=clock
    )
    producers.set_enabled(producer, False, clock=clock)
    run(workspace, clock, 30)
    assert not Message.objects.filter(queue=queue).exists()
    producers.set_enabled(producer, True, clock=clock)
    run(workspace, clock, 3)
    assert Message.objects.filter(queue=queue).count() == 3


def test_a_due_producer_is_claimed_once(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producers.create_producer(workspace, "shop", target_arn=queue.arn, rate=1, clock=clock)
    clock.advance(2)
    assert len(producers.claim_due(workspace, clock=clock, wall_now=time.time())) == 1
    assert producers.claim_due(workspace, clock=clock, wall_now=time.time()) == []


def test_a_producer_whose_target_is_gone_loses_its_requests(workspace, clock):
    from broker import sqs

    queue = make_queue(workspace, clock=clock)
    producer = producers.create_producer(
        workspace, "shop", target_arn=queue.arn, rate=1, clock=clock
    )
    sqs.delete_queue(queue, clock=clock)
    run(workspace, clock, 2)
    producer.refresh_from_db()
    assert (producer.sent, producer.lost) == (0, 2)
    assert producer.last_error == "its target no longer exists"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rate": -1}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": 1e9}, "rate"),
        ({"rate": 0}, "rate"),
        ({"peak_rate": 5, "peak_every": 10, "peak_length": 20}, "peak_length"),
        ({"target_arn": "arn:aws:sqs:us-east-1:000000000000:nope"}, "target"),
        ({"name": "no spaces"}, "name"),
        ({"body_template": "x" * 1025}, "body_template"),
    ],
)
def test_nonsense_producer_settings_are_refused(workspace, clock, changes, field):
    queue = make_queue(workspace, clock=clock)
    settings = {"name": "shop", "target_arn": queue.arn, "rate": 1, **changes}
    name = settings.pop("name")
    with pytest.raises(errors.InvalidParameterValueException) as raised:
        producers.create_producer(workspace, name, **settings, clock=clock)
    assert raised.value.field == field
    assert not Producer.objects.exists()


def test_a_target_in_another_account_is_refused(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    other = arns.build("sqs", "us-east-1", "999999999999", queue.name)
    with pytest.raises(errors.InvalidParameterValueException):
        producers.create_producer(workspace, "shop", target_arn=other, clock=clock)


def test_an_update_changes_the_rate_from_now(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producer = producers.create_producer(
        workspace, "shop", target_arn=queue.arn, rate=1, clock=clock
    )
    run(workspace, clock, 2)
    producers.update_producer(producer, rate=5, clock=clock)
    run(workspace, clock, 2)
    assert Message.objects.filter(queue=queue).count() == 12


def test_stopping_a_producer_keeps_the_counts_of_a_run_that_ended_meanwhile(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    producers.create_producer(workspace, "shop", target_arn=queue.arn, rate=2, clock=clock)
    read_by_the_view = Producer.objects.get()
    run(workspace, clock, 3)  # a run commits after the Stop button's request read the row
    producers.set_enabled(read_by_the_view, False, clock=clock)
    producers.update_producer(read_by_the_view, rate=1, clock=clock)
    producer = Producer.objects.get()
    assert (producer.made, producer.sent, producer.enabled, producer.rate) == (6, 6, False, 1.0)
