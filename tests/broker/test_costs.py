"""The cost of a run: AWS's arithmetic on the counts, and the counts the engine makes."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import redis

from broker import costs, sns, sqs, wakeup
from broker.models import Event, Workspace
from playground.stack import free_port
from tests.broker.test_lambdas import run_for
from tests.factories import make_function, make_mapping, make_queue

pytestmark = pytest.mark.django_db


def usage_of(**counts) -> dict:
    return {**dict.fromkeys(costs.COUNTERS, 0), "started_at": None, **counts}


# --- the arithmetic ------------------------------------------------------------------


def test_a_million_standard_requests_cost_forty_cents():
    bill = costs.bill(usage_of(sqs_requests=1_000_000))
    assert [line.item for line in bill.lines] == ["SQS requests · standard queues"]
    assert bill.line("sqs_requests").cost == Decimal("0.40")
    assert bill.total == Decimal("0.40")


def test_a_million_fifo_requests_cost_fifty_cents():
    assert costs.bill(usage_of(sqs_fifo_requests=1_000_000)).total == Decimal("0.50")


def test_a_request_is_billed_per_64_kb_chunk_begun_and_at_least_once():
    assert costs.chunks(0) == 1
    assert costs.chunks(64 * 1024) == 1
    assert costs.chunks(64 * 1024 + 1) == 2
    assert costs.chunks(100 * 1024) == 2
    assert costs.chunks(256 * 1024) == 4


def test_a_thousand_one_second_invocations_at_128_mb_are_125_gb_seconds():
    one_second_at_128_mb = 1000 * 128  # billed ms × MB
    bill = costs.bill(usage_of(lambda_requests=1000, lambda_mb_ms=1000 * one_second_at_128_mb))
    duration = bill.line("lambda_mb_ms")
    assert duration.quantity == 125
    assert duration.cost == Decimal("0.0020833375")  # 125 × $0.0000166667
    assert bill.line("lambda_requests").cost == Decimal("0.0002")
    assert bill.total == Decimal("0.0022833375")


def test_sns_deliveries_to_queues_and_functions_are_free_and_sms_is_not_priced():
    bill = costs.bill(
        usage_of(
            sns_publishes=1_000_000,
            sns_sqs_deliveries=1_000_000,
            sns_lambda_deliveries=1_000_000,
            sns_http_deliveries=1_000_000,
            sns_email_deliveries=100_000,
            sns_sms_deliveries=5,
        )
    )
    costs_by_line = {line.key: line.cost for line in bill.lines}
    assert costs_by_line == {
        "sns_publishes": Decimal("0.50"),
        "sns_sqs_deliveries": 0,
        "sns_lambda_deliveries": 0,
        "sns_http_deliveries": Decimal("0.60"),
        "sns_email_deliveries": Decimal("2.00"),
        "sns_sms_deliveries": None,
    }
    assert bill.total == Decimal("3.10")


def test_batch_size_one_would_cost_one_invocation_and_two_requests_per_record():
    batching = costs.batching(
        usage_of(
            trigger_invocations=10,
            trigger_records=100,
            trigger_ms=10 * 2000,
            trigger_mb_ms=10 * 2000 * 128,
            poller_receives=11,
            poller_empty_receives=1,
            poller_received=100,
            poller_deletes=10,
            poller_deleted=100,
        )
    )
    rows = {row.item: (row.actual, row.at_one) for row in batching.rows}
    assert rows == {
        "Lambda requests": (10, 100),
        "Lambda GB-seconds": (Decimal("2.5"), Decimal("25")),
        "SQS receives": (11, 101),
        "SQS deletes": (10, 100),
    }
    assert batching.average_batch == 10
    assert batching.average_seconds == 2
    # 10 × $0.0000002 + 2.5 × $0.0000166667 + 21 × $0.0000004
    assert batching.actual == Decimal("0.00005206675")
    # 100 × $0.0000002 + 25 × $0.0000166667 + 201 × $0.0000004
    assert batching.at_one == Decimal("0.0005170675")
    assert batching.saved_percent == 90


# --- what the engine counts ------------------------------------------------------------


def test_a_trigger_run_counts_the_pollers_requests_the_invocations_and_gb_seconds(workspace, clock):
    # Messages of at most 256 KB: the poller asks for 10 a receive and its event
    # still stays under Lambda's 6 MB.
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=60, MaximumMessageSize=262144)
    function = make_function(workspace, clock=clock, duration=2, timeout=10)
    make_mapping(queue, function, clock=clock, batch_size=10)
    for start in (0, 10, 20):
        entries = [{"Id": str(i), "MessageBody": f"order {i}"} for i in range(start, start + 10)]
        sqs.send_message_batch(queue, entries[:5] if start == 20 else entries, clock=clock)

    run_for(workspace, clock, 3)

    used = costs.usage(workspace)
    # One poll: receives of 10, 10 and 5 messages, then an empty one; a
    # DeleteMessageBatch per batch once each 2-second invocation has succeeded.
    assert used["poller_receives"] == 4
    assert used["poller_empty_receives"] == 1
    assert used["poller_received"] == 25
    assert used["poller_deletes"] == 3
    assert used["poller_deleted"] == 25
    assert used["sqs_requests"] == 7  # the service calls above are not API requests
    assert used["lambda_requests"] == 3
    assert used["trigger_records"] == 25
    assert used["lambda_mb_ms"] == used["trigger_mb_ms"] == 3 * 2000 * 128

    bill = costs.bill(used)
    assert bill.line("lambda_mb_ms").quantity == Decimal("0.75")
    batching = costs.batching(used)
    assert {row.item: row.at_one for row in batching.rows} == {
        "Lambda requests": 25,
        "Lambda GB-seconds": Decimal("6.25"),
        "SQS receives": 26,
        "SQS deletes": 25,
    }


def test_a_publish_counts_one_request_and_one_delivery_per_subscriber(
    relaxed_rules, workspace, clock
):
    topic = sns.create_topic(workspace, "orders", clock=clock)
    for name in ("billing", "shipping"):
        queue = make_queue(workspace, name, clock=clock)
        sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    sns.publish(topic, message="x" * (100 * 1024), base_url="http://testserver", clock=clock)
    sns.publish_batch(
        topic,
        [{"Id": str(i), "Message": f"order {i}"} for i in range(10)],
        base_url="http://testserver",
        clock=clock,
    )

    used = costs.usage(workspace)
    assert used["sns_publishes"] == 2 + 1  # 100 KB: two chunks; a small batch: one request
    assert used["sns_sqs_deliveries"] == 2 * 11


def test_reset_starts_a_new_run_from_zero_at_the_workspace_clock(workspace, clock):
    costs.add(workspace, sqs_requests=5, lambda_requests=2)
    assert costs.usage(workspace)["sqs_requests"] == 5

    clock.advance(90)
    costs.reset(workspace, clock=clock)

    used = costs.usage(workspace)
    assert used["sqs_requests"] == used["lambda_requests"] == 0
    assert used["started_at"] == clock.now()
    assert Event.objects.filter(kind="account.costs_reset").count() == 1
    assert costs.bill(used).lines == []


def test_a_new_workspace_starts_its_run_when_it_is_created(workspace):
    assert costs.usage(workspace)["started_at"] == pytest.approx(
        Workspace.objects.get(pk=workspace.pk).sim_anchor, abs=1
    )


@pytest.mark.django_db(transaction=True)
def test_a_count_made_while_redis_is_down_does_not_fail_and_arrives_later(
    workspace, monkeypatch, caplog
):
    real = wakeup.redis_client()
    down = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setattr(wakeup, "_sync_client", down)

    with caplog.at_level(logging.WARNING, logger="broker.costs"):
        costs.add(workspace, sqs_requests=3)  # outside a transaction: written at once

    assert "could not write usage counts" in caplog.text
    monkeypatch.setattr(wakeup, "_sync_client", real)
    assert costs.usage(workspace)["sqs_requests"] == 3
