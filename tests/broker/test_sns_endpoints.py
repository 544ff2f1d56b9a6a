"""SNS's HTTP/S, email and SMS endpoints inside the workspace: confirmation, the
request inbox's answers and the retry phases they cause, SMS opt-out (sns.md §2.2,
§3.2, §3.3, §7.3)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from broker import errors, sns
from broker.models import Delivery, Event, Inbox, InboxMessage
from broker.sns import deliveries, envelopes, inboxes
from tests.factories import make_queue

# Deliveries to queues without a Policy that allows them: the test-credential accounts' rules.
pytestmark = pytest.mark.usefixtures("relaxed_rules")

BASE_URL = "http://testserver"


def publish(topic, clock, message="hello", **options):
    return sns.publish(topic, message=message, base_url=BASE_URL, clock=clock, **options)


def inbox_url(workspace, name="orders-hook"):
    return inboxes.inbox_url(BASE_URL, workspace, name)


def messages_of(workspace, kind, address) -> list[InboxMessage]:
    return list(
        InboxMessage.objects.filter(
            inbox__workspace=workspace, inbox__kind=kind, inbox__address=address
        ).order_by("at", "pk")
    )


def events_of(kind: str) -> list[dict]:
    return [e.data for e in Event.objects.filter(kind=kind).order_by("pk")]


@pytest.fixture
def topic(workspace, clock):
    return sns.create_topic(workspace, "orders", clock=clock)


def confirm(topic, subscription_message: InboxMessage, clock, *, authenticated=False):
    envelope = json.loads(subscription_message.body)
    return sns.confirm_subscription(
        topic, envelope["Token"], authenticated=authenticated, clock=clock
    )


def test_an_http_subscription_waits_for_its_confirmation(workspace, clock, topic):
    subscription = sns.subscribe(
        topic, "http", inbox_url(workspace), base_url=BASE_URL, clock=clock
    )
    assert not subscription.confirmed
    attributes = sns.get_subscription_attributes(subscription)
    assert attributes["PendingConfirmation"] == "true"
    assert attributes["ConfirmationWasAuthenticated"] == "false"
    assert sns.get_topic_attributes(topic)["SubscriptionsPending"] == "1"

    (request,) = messages_of(workspace, "http", "orders-hook")
    assert request.message_type == "SubscriptionConfirmation" and request.status == 200
    assert request.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert request.headers["x-amz-sns-topic-arn"] == topic.arn
    assert "x-amz-sns-subscription-arn" not in request.headers
    assert request.headers["User-Agent"] == "Amazon Simple Notification Service Agent"
    envelope = json.loads(request.body)
    assert envelope["Token"] == subscription.token and len(subscription.token) == 128
    assert envelope["Message"].startswith(f"You have chosen to subscribe to the topic {topic.arn}")
    link = urlsplit(envelope["SubscribeURL"])
    assert link.path == "/_aws/sns/"
    assert parse_qs(link.query) == {
        "Action": ["ConfirmSubscription"],
        "TopicArn": [topic.arn],
        "Token": [subscription.token],
    }
    assert envelopes.verifies(envelope)
    assert not envelopes.verifies({**envelope, "Token": "forged"})

    publish(topic, clock, "before confirming")
    assert len(messages_of(workspace, "http", "orders-hook")) == 1  # nothing delivered yet

    confirmed = confirm(topic, request, clock)
    assert confirmed.confirmed and not confirmed.confirmation_authenticated
    assert events_of("subscription.confirmed")[0]["authenticated"] is False
    publish(topic, clock, "after confirming", subject="News")
    notification = messages_of(workspace, "http", "orders-hook")[-1]
    assert notification.message_type == "Notification"
    assert notification.headers["x-amz-sns-subscription-arn"] == subscription.arn
    envelope = json.loads(notification.body)
    assert envelope["Message"] == "after confirming" and envelope["Subject"] == "News"
    assert envelopes.verifies(envelope)


def test_a_wrong_or_expired_token_confirms_nothing(workspace, clock, topic):
    sns.subscribe(topic, "http", inbox_url(workspace), base_url=BASE_URL, clock=clock)
    with pytest.raises(errors.SnsInvalidParameter, match="Invalid parameter: Token"):
        sns.confirm_subscription(topic, "0" * 128, authenticated=True, clock=clock)
    (request,) = messages_of(workspace, "http", "orders-hook")
    clock.advance(2 * 86_400 + 1)
    with pytest.raises(errors.SnsInvalidParameter, match="Invalid parameter: Token"):
        confirm(topic, request, clock)


def test_subscribing_again_while_pending_sends_a_fresh_confirmation(workspace, clock, topic):
    url = inbox_url(workspace)
    first = sns.subscribe(topic, "http", url, base_url=BASE_URL, clock=clock).token
    second = sns.subscribe(topic, "http", url, base_url=BASE_URL, clock=clock).token
    assert first != second
    assert len(messages_of(workspace, "http", "orders-hook")) == 2


def test_a_raw_http_delivery_posts_the_bare_message(workspace, clock, topic):
    subscription = sns.subscribe(
        topic,
        "http",
        inbox_url(workspace),
        attributes={"RawMessageDelivery": "true"},
        base_url=BASE_URL,
        clock=clock,
    )
    confirm(topic, messages_of(workspace, "http", "orders-hook")[0], clock)
    publish(topic, clock, "bare", attributes={"a": {"DataType": "String", "StringValue": "x"}})
    request = messages_of(workspace, "http", "orders-hook")[-1]
    assert request.body == "bare" and request.headers["x-amz-sns-rawdelivery"] == "true"
    assert subscription.protocol == "http"


def confirmed_hook(workspace, clock, topic, **attributes):
    subscription = sns.subscribe(
        topic,
        "http",
        inbox_url(workspace),
        attributes=attributes,
        base_url=BASE_URL,
        clock=clock,
    )
    confirm(topic, messages_of(workspace, "http", "orders-hook")[0], clock)
    return subscription


def retry(clock):
    (delivery,) = Delivery.objects.all()
    return deliveries.attempt(delivery.pk, clock_for=lambda w: clock)


def test_an_endpoint_that_answers_500_is_retried_every_20_seconds_then_discarded(
    workspace, clock, topic
):
    confirmed_hook(workspace, clock, topic)
    hook = Inbox.objects.get(kind="http", address="orders-hook")
    sns.inboxes.set_mode(hook, "error", clock=clock)
    publish(topic, clock, "lost")

    for attempt in (1, 2, 3):
        failed = events_of("subscription.delivery_failed")[-1]
        assert (failed["attempt"], failed["attempts"]) == (attempt, 4)
        assert failed["error"] == "HTTP 500" and failed["next_at"] == clock.now() + 20
        clock.advance(20)
        assert retry(clock) is False
    failed = events_of("subscription.delivery_failed")[-1]
    assert failed["attempt"] == 4 and failed["next_at"] is None
    (discarded,) = events_of("subscription.discarded")
    assert discarded["reason"].startswith("all 4 attempts failed; the last: ")
    assert not Delivery.objects.exists()
    requests = [m for m in messages_of(workspace, "http", "orders-hook") if m.message_id]
    assert [m.status for m in requests if m.message_type == "Notification"] == [500] * 4


def test_a_timed_out_attempt_counts_its_15_seconds_before_the_delay(workspace, clock, topic):
    dlq = make_queue(workspace, "hook-dlq", clock=clock)
    confirmed_hook(
        workspace,
        clock,
        topic,
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn}),
        DeliveryPolicy=json.dumps(
            {"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 5, "maxDelayTarget": 5}}
        ),
    )
    sns.inboxes.set_mode(Inbox.objects.get(kind="http"), "timeout", clock=clock)
    published = publish(topic, clock, "slow")
    failed = events_of("subscription.delivery_failed")[-1]
    assert failed["error"] == "Timeout" and failed["next_at"] == clock.now() + 15 + 5
    clock.advance(20)
    retry(clock)
    (dead,) = events_of("subscription.dead_lettered")
    assert dead["queue"] == "hook-dlq"
    from broker import sqs

    (message,) = sqs.receive_messages(dlq, max_number=1, clock=clock)
    assert json.loads(message.body)["MessageId"] == published.message_id


def test_an_endpoint_that_recovers_gets_the_retry(workspace, clock, topic):
    confirmed_hook(workspace, clock, topic)
    hook = Inbox.objects.get(kind="http")
    sns.inboxes.set_mode(hook, "error", clock=clock)
    publish(topic, clock, "eventually")
    sns.inboxes.set_mode(hook, "ok", clock=clock)
    clock.advance(20)
    assert retry(clock) is True
    assert events_of("subscription.delivered")[0]["attempt"] == 2
    assert messages_of(workspace, "http", "orders-hook")[-1].status == 200


def test_the_effective_delivery_policy_takes_the_topic_default(workspace, clock, topic):
    policy = {
        "http": {
            "defaultHealthyRetryPolicy": {"numRetries": 7, "minDelayTarget": 2, "maxDelayTarget": 9}
        }
    }
    sns.set_topic_attributes(topic, "DeliveryPolicy", json.dumps(policy), clock=clock)
    subscription = confirmed_hook(workspace, clock, topic)
    subscription.topic.refresh_from_db()
    effective = json.loads(sns.get_subscription_attributes(subscription)["EffectiveDeliveryPolicy"])
    assert effective["healthyRetryPolicy"]["numRetries"] == 7
    assert effective["requestPolicy"] == {"headerContentType": "text/plain; charset=UTF-8"}


def test_an_email_subscription_is_confirmed_from_the_email_and_gets_the_message_text(
    workspace, clock, topic
):
    subscription = sns.subscribe(
        topic, "email", "learner@example.com", base_url=BASE_URL, clock=clock
    )
    (email,) = messages_of(workspace, "email", "learner@example.com")
    assert email.subject == "AWS Notification - Subscription Confirmation"
    link = email.body.rsplit("\n", 1)[-1]
    assert link.startswith(f"{BASE_URL}/_aws/sns/?Action=ConfirmSubscription")
    token = parse_qs(urlsplit(link).query)["Token"][0]
    sns.confirm_subscription(topic, token, authenticated=False, clock=clock)
    publish(topic, clock, "Your order shipped", subject="Shipping")
    email = messages_of(workspace, "email", "learner@example.com")[-1]
    assert (email.subject, email.body) == ("Shipping", "Your order shipped")
    assert subscription.protocol == "email"


def test_an_email_json_subscription_gets_the_signed_envelope(workspace, clock, topic):
    sns.subscribe(topic, "email-json", "ops@example.com", base_url=BASE_URL, clock=clock)
    (confirmation,) = messages_of(workspace, "email", "ops@example.com")
    confirm(topic, confirmation, clock)
    publish(topic, clock, "json please")
    envelope = json.loads(messages_of(workspace, "email", "ops@example.com")[-1].body)
    assert envelope["Type"] == "Notification" and envelope["Message"] == "json please"
    assert envelopes.verifies(envelope)


def test_sms_subscribers_get_the_text_until_they_opt_out(workspace, clock, topic):
    sns.subscribe(topic, "sms", "+15550100", clock=clock)
    publish(topic, clock, '{"default": "long", "sms": "short"}', structure="json")
    (text,) = messages_of(workspace, "sms", "+15550100")
    assert text.body == "short"

    sns.set_opted_out(workspace, "+15550100", True, clock=clock)
    assert sns.is_opted_out(workspace, "+15550100")
    assert sns.list_opted_out(workspace) == (["+15550100"], "")
    publish(topic, clock, "not sent")
    assert len(messages_of(workspace, "sms", "+15550100")) == 1
    (discarded,) = events_of("subscription.discarded")
    assert "opted out" in discarded["reason"]

    sns.set_opted_out(workspace, "+15550100", False, clock=clock)
    sns.publish_sms(workspace, "+15550100", message="direct", base_url=BASE_URL, clock=clock)
    assert messages_of(workspace, "sms", "+15550100")[-1].body == "direct"


def test_a_publish_to_an_opted_out_phone_succeeds_and_says_why_nothing_arrived(workspace, clock):
    sns.set_opted_out(workspace, "+15550199", True, clock=clock)
    published = sns.publish_sms(
        workspace, "+15550199", message="hi", base_url=BASE_URL, clock=clock
    )
    assert messages_of(workspace, "sms", "+15550199") == []
    (refused,) = events_of("inbox.refused")
    assert refused["error"] == "OptedOut"
    assert Event.objects.get(kind="inbox.refused").message_id == published.message_id


@pytest.mark.parametrize(
    ("protocol", "endpoint", "words"),
    [
        ("sms", "5550100", "Invalid SMS endpoint: 5550100"),
        ("email", "not-an-address", "Invalid parameter: Email address"),
        ("http", "https://localhost/hook", "Endpoint must match the specified protocol"),
        ("https", "https://example.com/hook", "not to other hosts"),
        ("lambda", "arn:aws:sqs:us-east-1:000000000000:x", "Lambda endpoint ARN"),
    ],
)
def test_an_endpoint_of_the_wrong_kind_is_refused(
    workspace, clock, topic, protocol, endpoint, words
):
    with pytest.raises(errors.SnsInvalidParameter, match=words):
        sns.subscribe(topic, protocol, endpoint, base_url=BASE_URL, clock=clock)
    assert not topic.subscriptions.exists()


def test_an_unsigned_unsubscribe_cannot_remove_a_subscription_that_asked_for_authentication(
    workspace, clock, topic
):
    subscription = sns.subscribe(
        topic, "http", inbox_url(workspace), base_url=BASE_URL, clock=clock
    )
    token = subscription.token
    sns.confirm_subscription(
        topic, token, authenticated=True, authenticate_on_unsubscribe=True, clock=clock
    )
    with pytest.raises(errors.SnsAuthorizationError):
        sns.unsubscribe(workspace, subscription.arn, authenticated=False, clock=clock)
    sns.unsubscribe(workspace, subscription.arn, base_url=BASE_URL, clock=clock)
    assert not topic.subscriptions.exists()
    last = messages_of(workspace, "http", "orders-hook")[-1]
    assert last.message_type == "UnsubscribeConfirmation"
    assert json.loads(last.body)["Message"].startswith(
        f"You have chosen to deactivate subscription {subscription.arn}"
    )


def test_sms_attributes_are_kept_and_checked(workspace, clock):
    sns.set_sms_attributes(workspace, {"DefaultSMSType": "Transactional"}, clock=clock)
    assert sns.get_sms_attributes(workspace, []) == {"DefaultSMSType": "Transactional"}
    with pytest.raises(errors.SnsInvalidParameter, match="must be one of Promotional"):
        sns.set_sms_attributes(workspace, {"DefaultSMSType": "Loud"}, clock=clock)
    with pytest.raises(errors.SnsInvalidParameter, match="Invalid parameter: Colour"):
        sns.set_sms_attributes(workspace, {"Colour": "red"}, clock=clock)


def test_a_throttle_policy_spaces_deliveries_to_its_rate(workspace, clock, topic):
    policy = {"throttlePolicy": {"maxReceivesPerSecond": 2}}
    confirmed_hook(workspace, clock, topic, DeliveryPolicy=json.dumps(policy))
    for i in range(3):
        publish(topic, clock, f"burst {i}")
    notifications = [
        m for m in messages_of(workspace, "http", "orders-hook") if m.message_type == "Notification"
    ]
    assert len(notifications) == 1  # the first at once, the others wait their turn
    waiting = list(Delivery.objects.order_by("next_at").values_list("next_at", flat=True))
    assert waiting == [clock.now() + 0.5, clock.now() + 1.0]
    clock.advance(1)
    for delivery in Delivery.objects.order_by("next_at"):
        assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is True
    assert len(messages_of(workspace, "http", "orders-hook")) == 4  # confirmation + 3


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.2", True),
        ("[::1]", True),
        ("127.evil.example", False),
        ("10.0.0.1", False),
        ("metadata.google.internal", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine(host, loopback):
    from broker.sns import subscriptions

    assert subscriptions.is_loopback(host) is loopback


def test_an_email_address_that_cannot_name_a_page_is_refused(workspace, clock, topic):
    with pytest.raises(errors.SnsInvalidParameter, match="Email address"):
        sns.subscribe(topic, "email", "a/b@example.com", base_url=BASE_URL, clock=clock)
