"""SNS deliveries: Lambda subscribers, retries under each protocol's policy, the
subscription's dead-letter queue, and discarding (sns.md §3.4, §7)."""

from __future__ import annotations

import base64
import json

import pytest

from broker import errors, kms, sns, sqs
from broker.models import Delivery, Event, Invocation
from broker.sns import deliveries, retries
from tests.factories import make_function, make_queue

# Deliveries to queues without a Policy that allows them: the test-credential accounts' rules.
pytestmark = pytest.mark.usefixtures("relaxed_rules")

BASE_URL = "http://testserver"


def publish(topic, clock, message="hello", **options):
    return sns.publish(topic, message=message, base_url=BASE_URL, clock=clock, **options)


def events_of(kind: str) -> list[dict]:
    return [e.data for e in Event.objects.filter(kind=kind).order_by("pk")]


def received(queue, clock) -> list[sqs.Received]:
    return sqs.receive_messages(queue, max_number=10, clock=clock)


@pytest.fixture
def topic(workspace, clock):
    return sns.create_topic(workspace, "orders", clock=clock)


def test_the_http_default_policy_retries_three_times_twenty_seconds_apart():
    policy = retries.HTTP_DEFAULT
    assert [policy.delay_before(n) for n in range(1, 5)] == [20, 20, 20, None]
    assert policy.attempts == 4


def test_the_aws_managed_policy_makes_100015_attempts_over_23_days():
    policy = retries.AWS_MANAGED
    assert policy.attempts == 100_015
    first = [policy.delay_before(n) for n in range(1, 16)]
    assert first[:4] == [0, 0, 1, 1]  # three immediate attempts, then two a second apart
    assert first[4] == 1 and first[13] == 20  # the backoff climbs from 1 s to 20 s
    assert first[4:14] == sorted(first[4:14])
    assert policy.delay_before(100_014) == 20 and policy.delay_before(100_015) is None
    total = sum(policy.delay_before(n) for n in range(1, policy.attempts))
    assert 22.5 < total / 86_400 < 23.5


def test_the_customer_managed_policy_makes_50_attempts_over_about_six_hours():
    policy = retries.CUSTOMER_MANAGED
    assert policy.attempts == 50
    assert [policy.delay_before(n) for n in (1, 2, 3)] == [10, 10, 10]
    total = sum(policy.delay_before(n) for n in range(1, policy.attempts))
    assert 6 < total / 3600 < 7  # AWS: "50 attempts over 6 hours"


@pytest.mark.parametrize(
    ("backoff", "curve"),
    [
        ("linear", [10, 32.5, 55, 77.5, 100]),
        ("arithmetic", [10, 15.625, 32.5, 60.625, 100]),
        ("geometric", [10, 11.406, 21.25, 47.969, 100]),
        ("exponential", [10, 17.783, 31.623, 56.234, 100]),
    ],
)
def test_a_custom_policy_goes_through_its_four_phases(backoff, curve):
    policy = retries.parse_retry_policy(
        {
            "numRetries": 9,
            "numNoDelayRetries": 1,
            "numMinDelayRetries": 2,
            "numMaxDelayRetries": 1,
            "minDelayTarget": 10,
            "maxDelayTarget": 100,
            "backoffFunction": backoff,
        }
    )
    # One at once, two at the minimum delay, the backoff from the minimum to the
    # maximum, one at the maximum; then none.
    assert [policy.delay_before(n) for n in range(1, 11)] == [0, 10, 10, *curve, 100, None]


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"numRetries": 101}, "numRetries must be between 0 and 100, not 101"),
        ({"minDelayTarget": 30, "maxDelayTarget": 20}, "must not be greater than maxDelayTarget"),
        ({"maxDelayTarget": 3601}, "maxDelayTarget must be between 1 and 3600"),
        ({"numRetries": 2, "numNoDelayRetries": 3}, "add up to more than numRetries"),
        ({"backoffFunction": "cubic"}, "backoffFunction must be one of linear"),
        ({"numRetries": 100, "minDelayTarget": 60, "maxDelayTarget": 60}, "6000 seconds in all"),
        ({"numRetries": "3"}, "numRetries must be a whole number"),
    ],
)
def test_a_retry_policy_sns_would_refuse_is_refused_with_the_reason(document, words):
    with pytest.raises(retries.PolicyError, match=words):
        retries.parse_retry_policy(document)


def test_a_function_subscribed_to_a_topic_is_invoked_with_the_sns_event(workspace, clock, topic):
    function = make_function(workspace, "notify", clock=clock, log_template="Got: {body}")
    subscription = sns.subscribe(topic, "lambda", function.arn, clock=clock)
    published = publish(
        topic,
        clock,
        "order 7",
        attributes={
            "kind": {"DataType": "String", "StringValue": "order"},
            "total": {"DataType": "Number", "StringValue": "12.5"},
        },
    )

    invocation = Invocation.objects.get(function=function)
    (record,) = invocation.event["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == subscription.arn
    message = record["Sns"]
    assert message["MessageId"] == published.message_id
    assert message["Message"] == "order 7" and message["Subject"] is None
    assert message["TopicArn"] == topic.arn and message["Type"] == "Notification"
    assert message["SigningCertUrl"].startswith(f"{BASE_URL}/_aws/sns/")
    assert "Action=Unsubscribe" in message["UnsubscribeUrl"]
    assert message["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "order"},
        "total": {"Type": "String", "Value": "12.5"},
    }
    assert invocation.message_ids == [published.message_id]
    lines = [e.data["line"] for e in Event.objects.filter(kind="function.logged")]
    assert "Got: order 7" in lines
    started = events_of("invocation.started")[0]
    assert started["source"] == "sns:orders"
    assert events_of("topic.published")[0]["delivered_to"] == [str(subscription.uuid)]

    clock.advance(function.duration)
    assert sns_finished(invocation, clock) == Invocation.Status.SUCCEEDED


def sns_finished(invocation, clock) -> str:
    from broker import lambdas

    lambdas.finish_invocation(invocation, clock=clock)
    invocation.refresh_from_db()
    return invocation.status


def test_a_function_that_is_gone_is_a_client_error_and_the_message_is_discarded(
    workspace, clock, topic
):
    function = make_function(workspace, "notify", clock=clock)
    subscription = sns.subscribe(topic, "lambda", function.arn, clock=clock)
    function.delete()
    publish(topic, clock)

    (failed,) = events_of("subscription.delivery_failed")
    assert failed["error"] == "ResourceNotFoundException" and failed["retriable"] is False
    assert failed["attempt"] == 1 and failed["next_at"] is None
    (discarded,) = events_of("subscription.discarded")
    assert discarded["subscription"] == str(subscription.uuid)
    assert discarded["reason"] == f"Function not found: {function.arn}"
    assert not Delivery.objects.exists()


def test_a_deleted_queue_sends_the_envelope_to_the_subscription_dead_letter_queue(
    workspace, clock, topic
):
    queue = make_queue(workspace, "orders-q", clock=clock)
    dlq = make_queue(workspace, "orders-sns-dlq", clock=clock)
    sns.subscribe(
        topic,
        "sqs",
        queue.arn,
        attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq.arn})},
        clock=clock,
    )
    sqs.delete_queue(queue, clock=clock)
    published = publish(
        topic, clock, attributes={"blob": {"DataType": "Binary", "BinaryValue": b"\x02\x03"}}
    )

    (message,) = received(dlq, clock)
    envelope = json.loads(message.body)
    assert envelope["MessageId"] == published.message_id and envelope["Message"] == "hello"
    assert envelope["MessageAttributes"] == {"blob": {"Type": "Binary", "Value": "AgM="}}
    assert message.message_attributes == {}
    (dead,) = events_of("subscription.dead_lettered")
    assert dead["queue"] == "orders-sns-dlq"
    assert dead["reason"] == f"The queue {queue.arn} does not exist."


def test_a_raw_subscription_dead_letters_the_bare_message_with_its_attributes(
    workspace, clock, topic
):
    queue = make_queue(workspace, "orders-q", clock=clock)
    dlq = make_queue(workspace, "orders-sns-dlq", clock=clock)
    sns.subscribe(
        topic,
        "sqs",
        queue.arn,
        attributes={
            "RawMessageDelivery": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq.arn}),
        },
        clock=clock,
    )
    sqs.delete_queue(queue, clock=clock)
    publish(topic, clock, "raw", attributes={"n": {"DataType": "Number", "StringValue": "111"}})

    (message,) = received(dlq, clock)
    assert message.body == "raw"
    assert message.message_attributes == {"n": {"DataType": "Number", "StringValue": "111"}}


def test_without_a_dead_letter_queue_an_undeliverable_message_is_discarded(workspace, clock, topic):
    queue = make_queue(workspace, "orders-q", clock=clock)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    sqs.delete_queue(queue, clock=clock)
    publish(topic, clock)
    (discarded,) = events_of("subscription.discarded")
    assert "does not exist" in discarded["reason"]


def test_a_throttled_delivery_is_retried_and_delivered_when_kms_has_room(workspace, clock, topic):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, "sealed", clock=clock, KmsMasterKeyId=key.key_id)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    workspace.kms_request_quota = 1  # a new data key costs two requests: always throttled
    workspace.save(update_fields=["kms_request_quota"])
    topic.workspace.refresh_from_db()
    published = publish(topic, clock)

    (failed,) = events_of("subscription.delivery_failed")
    assert failed["error"] == "KmsThrottled" and failed["retriable"] is True
    assert (failed["attempt"], failed["attempts"]) == (1, 100_015)
    assert failed["next_at"] == clock.now()  # the managed policy retries at once, twice
    delivery = Delivery.objects.get()
    assert (delivery.attempts, delivery.message_id) == (1, published.message_id)
    assert deliveries.claim_due(workspace, clock=clock) == [delivery.pk]
    assert deliveries.claim_due(workspace, clock=clock) == []  # queued once

    assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is False
    assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is False
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.next_at == clock.now() + 1
    assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is False  # not due yet
    assert Delivery.objects.get().attempts == 3

    workspace.kms_request_quota = 5500
    workspace.save(update_fields=["kms_request_quota"])
    clock.advance(1)
    assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is True
    (message,) = received(queue, clock)
    assert json.loads(message.body)["MessageId"] == published.message_id
    assert events_of("subscription.delivered")[0]["attempt"] == 4
    assert not Delivery.objects.exists()


def test_a_retry_keeps_the_envelope_binary_attributes_as_published(workspace, clock, topic):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, "sealed", clock=clock, KmsMasterKeyId=key.key_id)
    sns.subscribe(topic, "sqs", queue.arn, attributes={"RawMessageDelivery": "true"}, clock=clock)
    workspace.kms_request_quota = 1
    workspace.save(update_fields=["kms_request_quota"])
    topic.workspace.refresh_from_db()
    publish(topic, clock, attributes={"blob": {"DataType": "Binary", "BinaryValue": b"\xff\x00"}})
    workspace.kms_request_quota = 5500
    workspace.save(update_fields=["kms_request_quota"])
    assert deliveries.attempt(Delivery.objects.get().pk, clock_for=lambda w: clock) is True
    (message,) = received(queue, clock)
    # Stored and received as SQS keeps binary values: base64 text of the same bytes.
    assert (
        message.message_attributes["blob"]["BinaryValue"] == base64.b64encode(b"\xff\x00").decode()
    )


def test_a_retry_for_a_subscription_removed_meanwhile_is_gone_with_it(workspace, clock, topic):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, "sealed", clock=clock, KmsMasterKeyId=key.key_id)
    subscription = sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    workspace.kms_request_quota = 1
    workspace.save(update_fields=["kms_request_quota"])
    topic.workspace.refresh_from_db()
    publish(topic, clock)
    pk = Delivery.objects.get().pk
    sns.unsubscribe(workspace, subscription.arn, clock=clock)
    assert deliveries.attempt(pk, clock_for=lambda w: clock) is False
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ("{", "RedrivePolicy: failed to parse JSON"),
        ('{"deadLetterTargetArn": "orders-dlq"}', "deadLetterTargetArn is an invalid arn"),
        (
            '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:x"}',
            "deadLetterTargetArn is an invalid arn",
        ),
    ],
)
def test_a_redrive_policy_must_name_a_queue_of_the_account(workspace, clock, topic, policy, words):
    queue = make_queue(workspace, "orders-q", clock=clock)
    with pytest.raises(errors.SnsInvalidParameter, match=words):
        sns.subscribe(topic, "sqs", queue.arn, attributes={"RedrivePolicy": policy}, clock=clock)


def test_a_fifo_subscription_needs_a_fifo_dead_letter_queue(workspace, clock):
    topic = sns.create_topic(
        workspace, "orders.fifo", attributes={"FifoTopic": "true"}, clock=clock
    )
    queue = make_queue(workspace, "orders.fifo", clock=clock, FifoQueue="true")
    policy = json.dumps(
        {"deadLetterTargetArn": f"arn:aws:sqs:{workspace.region}:{workspace.account_id}:plain-dlq"}
    )
    with pytest.raises(errors.SnsInvalidParameter, match="must use a FIFO queue as DLQ"):
        sns.subscribe(topic, "sqs", queue.arn, attributes={"RedrivePolicy": policy}, clock=clock)


def test_only_http_subscriptions_take_a_delivery_policy(workspace, clock, topic):
    queue = make_queue(workspace, "orders-q", clock=clock)
    with pytest.raises(
        errors.SnsInvalidParameter, match=r"Delivery protocol \[sqs\] does not support"
    ):
        sns.subscribe(topic, "sqs", queue.arn, attributes={"DeliveryPolicy": "{}"}, clock=clock)


def test_a_topic_delivery_policy_is_checked(workspace, clock, topic):
    bad = json.dumps({"http": {"defaultHealthyRetryPolicy": {"numRetries": 500}}})
    with pytest.raises(errors.SnsInvalidParameter, match="DeliveryPolicy: numRetries must be"):
        sns.set_topic_attributes(topic, "DeliveryPolicy", bad, clock=clock)


def test_the_ticker_queues_a_due_retry(workspace, clock, topic):
    from broker import ticker

    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, "sealed", clock=clock, KmsMasterKeyId=key.key_id)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    workspace.kms_request_quota = 1
    workspace.save(update_fields=["kms_request_quota"])
    topic.workspace.refresh_from_db()
    publish(topic, clock)
    assert ticker.wake_deliveries(workspace, clock=clock) == 1
    assert Delivery.objects.get().requested_at is not None


def test_json_nested_too_deep_is_refused_not_a_crash(workspace, clock, topic):
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(errors.SnsInvalidParameter, match="JSON message body failed to parse"):
        publish(topic, clock, deep, structure="json")
    with pytest.raises(errors.SnsParameterValueInvalid, match="must be a JSON array"):
        publish(topic, clock, attributes={"a": {"DataType": "String.Array", "StringValue": deep}})
    queue = make_queue(workspace, "orders-q", clock=clock)
    with pytest.raises(errors.SnsInvalidParameter, match="RedrivePolicy: failed to parse JSON"):
        sns.subscribe(topic, "sqs", queue.arn, attributes={"RedrivePolicy": deep}, clock=clock)
    with pytest.raises(errors.SnsInvalidParameter, match="DeliveryPolicy"):
        sns.set_topic_attributes(topic, "DeliveryPolicy", deep, clock=clock)
