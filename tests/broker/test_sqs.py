from __future__ import annotations

import json

import pytest
from django.db import connection

from broker import errors, message_attributes, sqs
from broker.models import Event, Message
from broker.sqs import bulk, retention
from tests.factories import make_queue


def test_message_reappears_after_visibility_timeout(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    sqs.send_message(queue, body="hello", clock=clock)

    [first] = sqs.receive_messages(queue, clock=clock)
    assert sqs.receive_messages(queue, clock=clock) == []
    clock.advance(29.9)
    assert sqs.receive_messages(queue, clock=clock) == []
    clock.advance(0.1)
    [again] = sqs.receive_messages(queue, clock=clock)

    assert again.message_id == first.message_id
    assert again.receipt_handle != first.receipt_handle
    assert again.system_attributes["ApproximateReceiveCount"] == "2"


def test_deleted_message_is_not_received_again(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    sqs.send_message(queue, body="once", clock=clock)
    [received] = sqs.receive_messages(queue, visibility=0, clock=clock)
    sqs.delete_message(queue, received.receipt_handle, clock=clock)
    assert sqs.receive_messages(queue, clock=clock) == []
    kinds = list(
        Event.objects.filter(message_id=received.message_id)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["message.sent", "message.received", "message.deleted"]


def test_delayed_message_is_invisible_until_its_delay_ends(workspace, clock):
    queue = make_queue(workspace, clock=clock, DelaySeconds=10)
    sqs.send_message(queue, body="later", clock=clock)
    assert sqs.counts(queue, now=clock.now()) == sqs.Counts(visible=0, in_flight=0, delayed=1)
    clock.advance(10)
    assert len(sqs.receive_messages(queue, clock=clock)) == 1


def test_message_moves_to_dead_letter_queue_after_max_receive_count(workspace, clock):
    dlq = make_queue(workspace, "MyTaskQueue-dlq", clock=clock)
    queue = make_queue(
        workspace,
        clock=clock,
        VisibilityTimeout=5,
        RedrivePolicy=f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":2}}',
    )
    sqs.send_message(queue, body="poison", clock=clock)
    for _ in range(2):
        assert len(sqs.receive_messages(queue, clock=clock)) == 1
        clock.advance(5)
    assert sqs.receive_messages(queue, clock=clock) == []
    [moved] = sqs.receive_messages(dlq, clock=clock)
    assert moved.body == "poison"
    assert moved.system_attributes["DeadLetterQueueSourceArn"] == queue.arn


def test_md5_of_attributes_matches_the_value_aws_returned():
    attributes = {
        "Author": {"DataType": "String", "StringValue": "John Grisham"},
        "Title": {"DataType": "String", "StringValue": "The Whistler"},
        "WeeksOn": {"DataType": "Number", "StringValue": "6"},
    }
    assert message_attributes.md5_of_attributes(attributes) == "d25a6aea97eb8f585bfa92d314504a92"


def test_malformed_receipt_handle_is_rejected(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    with pytest.raises(errors.ReceiptHandleIsInvalid):
        sqs.delete_message(queue, "garbage", clock=clock)


def test_message_vanishes_after_its_retention_period(workspace, clock):
    queue = make_queue(workspace, clock=clock, MessageRetentionPeriod=60)
    sent = sqs.send_message(queue, body="short-lived", clock=clock)
    clock.advance(59)
    assert retention.expire_messages(workspace, clock=clock) == 0
    clock.advance(1)
    # Not receivable the instant it expires, even before the ticker sweeps it.
    assert sqs.receive_messages(queue, clock=clock) == []
    assert retention.expire_messages(workspace, clock=clock) == 1
    assert sqs.counts(queue, now=clock.now()).total == 0
    expired = Event.objects.get(kind="message.expired", message_id=sent.message_id)
    assert expired.data["age"] == 60


def test_retention_counts_from_the_first_send_after_a_move_to_the_dead_letter_queue(
    workspace, clock
):
    dlq = make_queue(workspace, "dlq", clock=clock, MessageRetentionPeriod=120)
    queue = make_queue(
        workspace,
        clock=clock,
        VisibilityTimeout=50,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}'),
    )
    sqs.send_message(queue, body="poison", clock=clock)
    sqs.receive_messages(queue, clock=clock)
    clock.advance(100)
    assert sqs.receive_messages(queue, clock=clock) == []  # moved to the DLQ at 100 s
    clock.advance(20)
    assert retention.expire_messages(workspace, clock=clock) == 1
    assert sqs.counts(dlq, now=clock.now()).total == 0


def test_shortening_retention_expires_messages_already_queued(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    sqs.send_message(queue, body="old", clock=clock)
    clock.advance(3600)
    sqs.set_queue_attributes(queue, {"MessageRetentionPeriod": "600"}, clock=clock)
    assert retention.expire_messages(workspace, clock=clock) == 1


def test_a_deleted_queue_name_can_be_reused_after_sixty_seconds(workspace, clock):
    queue = make_queue(workspace, "reused", clock=clock)
    sqs.delete_queue(queue, clock=clock)
    clock.advance(59)
    with pytest.raises(errors.QueueDeletedRecently, match="wait 60 seconds"):
        make_queue(workspace, "reused", clock=clock)
    clock.advance(1)
    assert make_queue(workspace, "reused", clock=clock).name == "reused"


def _redrive_to(dlq, count=3) -> str:
    return f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":{count}}}'


def test_redrive_allow_policy_deny_all_refuses_every_source(workspace, clock):
    dlq = make_queue(
        workspace, "dlq", clock=clock, RedriveAllowPolicy='{"redrivePermission":"denyAll"}'
    )
    with pytest.raises(errors.InvalidParameterValue, match="does not allow this queue"):
        make_queue(workspace, "source", clock=clock, RedrivePolicy=_redrive_to(dlq))


def test_redrive_allow_policy_by_queue_admits_only_the_named_sources(workspace, clock):
    arn = f"arn:aws:sqs:{workspace.region}:{workspace.account_id}"
    dlq = make_queue(
        workspace,
        "dlq",
        clock=clock,
        RedriveAllowPolicy=(
            f'{{"redrivePermission":"byQueue","sourceQueueArns":["{arn}:allowed"]}}'
        ),
    )
    assert make_queue(workspace, "allowed", clock=clock, RedrivePolicy=_redrive_to(dlq))
    with pytest.raises(errors.InvalidParameterValue, match="RedriveAllowPolicy"):
        make_queue(workspace, "other", clock=clock, RedrivePolicy=_redrive_to(dlq))


@pytest.mark.parametrize(
    "policy",
    [
        "not json",
        '{"redrivePermission":"sometimes"}',
        '{"redrivePermission":"byQueue"}',
        '{"redrivePermission":"byQueue","sourceQueueArns":[]}',
        json.dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [f"a{i}" for i in range(11)]}
        ),
        '{"redrivePermission":"allowAll","sourceQueueArns":["x"]}',
    ],
)
def test_a_malformed_redrive_allow_policy_is_refused(workspace, clock, policy):
    with pytest.raises(errors.InvalidParameterValue, match="RedriveAllowPolicy"):
        make_queue(workspace, "dlq", clock=clock, RedriveAllowPolicy=policy)


def test_a_receive_reads_its_queue_through_the_receive_order_index(workspace, clock):
    # A million messages sharing one instant must not turn a receive into a scan and a
    # sort (bench/sqs_fifo.py measured 918 ms on PostgreSQL before this index).
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
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    plan = sqs.receivable(queue, now=now)[:10].explain()
    assert "message_queue_visible_id" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_a_receive_that_moves_messages_to_the_dlq_hands_out_the_others_once(workspace, clock):
    dlq = make_queue(workspace, "dlq", clock=clock)
    queue = make_queue(
        workspace,
        clock=clock,
        VisibilityTimeout=5,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}'),
    )
    for i in range(3):
        sqs.send_message(queue, body=f"poison {i}", clock=clock)
    assert len(sqs.receive_messages(queue, max_number=10, clock=clock)) == 3
    clock.advance(5)
    for i in range(10):
        sqs.send_message(queue, body=f"fresh {i}", clock=clock)

    got = sqs.receive_messages(queue, max_number=10, clock=clock)  # the poison ones leave first

    assert sorted(r.body for r in got) == sorted(f"fresh {i}" for i in range(10))
    assert sqs.counts(dlq, now=clock.now()).visible == 3


def test_a_short_poll_past_the_in_flight_limit_is_refused_with_overlimit(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    bulk.fill(queue, sqs.IN_FLIGHT_LIMIT - 1, now=clock.now(), in_flight_for=600)
    for i in range(3):
        sqs.send_message(queue, body=f"waiting {i}", clock=clock)

    assert len(sqs.receive_messages(queue, max_number=10, clock=clock)) == 1  # the last slot
    with pytest.raises(errors.OverLimit, match="received without being deleted") as refused:
        sqs.receive_messages(queue, clock=clock)
    assert refused.value.status == 403
    assert sqs.receive_messages(queue, long_poll=True, clock=clock) == []
    assert sqs.counts(queue, now=clock.now()) == sqs.Counts(
        visible=2, in_flight=sqs.IN_FLIGHT_LIMIT, delayed=0
    )

    clock.advance(600)  # the bulk's visibility timeouts end: room again
    assert len(sqs.receive_messages(queue, max_number=10, clock=clock)) == 10


def test_a_fifo_queue_at_its_in_flight_limit_answers_empty_receives(workspace, clock):
    queue = make_queue(workspace, "jobs.fifo", clock=clock, FifoQueue="true")
    limit = sqs.FIFO_IN_FLIGHT_LIMIT
    bulk.fill(queue, limit, now=clock.now(), groups=limit, in_flight_for=600)
    sqs.send_message(queue, body="fresh", group_id="another", deduplication_id="1", clock=clock)

    assert sqs.receive_messages(queue, max_number=10, clock=clock) == []  # no error on FIFO
    clock.advance(600)
    assert len(sqs.receive_messages(queue, max_number=10, clock=clock)) == 10


def test_a_queue_url_resolves_by_its_last_two_segments_or_by_the_bare_name(workspace, clock):
    queue = make_queue(workspace, "orders", clock=clock)
    account = workspace.account_id
    for url in (
        "orders",
        f"http://localhost:8000/{account}/orders",
        f"/{account}/orders",
        f"https://sqs.us-east-1.amazonaws.com/{account}/orders?x=1",
    ):
        assert sqs.get_queue_by_url(workspace, url) == queue
    with pytest.raises(errors.InvalidAddress, match="queue/orders is not valid"):
        sqs.get_queue_by_url(workspace, "http://localhost:9324/queue/orders")
    for url in ("http://localhost:8000", "invoices", f"http://h/{'9' * 12}/orders"):
        with pytest.raises(errors.QueueDoesNotExist):
            sqs.get_queue_by_url(workspace, url)


def test_relaxed_rules_let_a_name_be_reused_and_a_queue_be_purged_at_once(workspace, clock):
    workspace.aws_strict = False
    workspace.save(update_fields=["aws_strict"])
    queue = make_queue(workspace, "relaxed", clock=clock)
    sqs.purge_queue(queue, clock=clock)
    sqs.purge_queue(queue, clock=clock)  # strict: PurgeQueueInProgress for 60 s
    sqs.delete_queue(queue, clock=clock)
    assert make_queue(workspace, "relaxed", clock=clock).name == "relaxed"


def test_strict_rules_refuse_a_second_purge_within_sixty_seconds(workspace, clock):
    queue = make_queue(workspace, "strict", clock=clock)
    sqs.purge_queue(queue, clock=clock)
    clock.advance(59)
    with pytest.raises(errors.PurgeQueueInProgress, match="allowed every 60 seconds"):
        sqs.purge_queue(queue, clock=clock)
    clock.advance(1)
    sqs.purge_queue(queue, clock=clock)
