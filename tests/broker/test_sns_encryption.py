"""A topic with KmsMasterKeyId: publishes ask KMS for a data key and fail with SNS's KMS
errors when it refuses; a retry's message is kept sealed (sns.md §1.1, §10)."""

from __future__ import annotations

import json

import pytest

from broker import errors, kms, sns
from broker.models import Delivery, Event, Inbox, InboxMessage, Message
from broker.sns import deliveries, inboxes
from tests.factories import make_queue

# Deliveries to queues without a Policy that allows them: the test-credential accounts' rules.
pytestmark = pytest.mark.usefixtures("relaxed_rules")

BASE_URL = "http://testserver"


def encrypted_topic(workspace, clock, key_ref: str):
    return sns.create_topic(
        workspace, "payslips", attributes={"KmsMasterKeyId": key_ref}, clock=clock
    )


def test_a_disabled_key_fails_publish_with_kms_disabled_and_delivers_nothing(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    topic = encrypted_topic(workspace, clock, key.key_id)
    queue = make_queue(workspace, "payroll", clock=clock)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    sns.publish(topic, message="march", base_url=BASE_URL, clock=clock)
    assert Message.objects.filter(queue=queue).count() == 1

    kms.set_enabled(workspace, key.key_id, False, clock=clock)
    topic.refresh_from_db()
    with pytest.raises(errors.SnsKMSDisabled, match="is not enabled") as raised:
        sns.publish(topic, message="april", base_url=BASE_URL, clock=clock)
    assert (raised.value.wire_query_code, raised.value.status) == ("KMSDisabled", 400)
    assert Message.objects.filter(queue=queue).count() == 1


def test_an_unknown_key_is_kms_not_found_and_the_aws_managed_alias_just_works(workspace, clock):
    topic = encrypted_topic(workspace, clock, "alias/nothing-here")
    with pytest.raises(errors.SnsKMSNotFound):
        sns.publish(topic, message="x", base_url=BASE_URL, clock=clock)
    managed = sns.create_topic(
        workspace, "managed", attributes={"KmsMasterKeyId": "alias/aws/sns"}, clock=clock
    )
    assert sns.publish(managed, message="x", base_url=BASE_URL, clock=clock).message_id


def test_the_account_quota_throttles_publish_with_kms_throttling(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    topic = encrypted_topic(workspace, clock, key.key_id)
    workspace.kms_request_quota = 1  # a data key costs two requests
    workspace.save(update_fields=["kms_request_quota"])
    topic.workspace.refresh_from_db()
    with pytest.raises(errors.SnsKMSThrottling):
        sns.publish(topic, message="x", base_url=BASE_URL, clock=clock)


def test_a_retry_keeps_its_message_sealed_and_a_key_disabled_meanwhile_discards_it(
    workspace, clock
):
    key = kms.create_key(workspace, clock=clock)
    topic = encrypted_topic(workspace, clock, key.key_id)
    hook = sns.subscribe(
        topic,
        "http",
        inboxes.inbox_url(BASE_URL, workspace, "hook"),
        base_url=BASE_URL,
        clock=clock,
    )
    sns.confirm_subscription(topic, hook.token, authenticated=True, clock=clock)
    inboxes.set_mode(Inbox.objects.get(address="hook"), "error", clock=clock)
    sns.publish(topic, message="salary: 4,200", base_url=BASE_URL, clock=clock)
    delivery = Delivery.objects.get()
    assert "salary" not in json.dumps(delivery.payload)
    assert set(delivery.payload) >= {"sealed", "wrapped"}

    clock.advance(20)
    assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is False  # still 500
    last = InboxMessage.objects.filter(inbox__address="hook").first()
    assert json.loads(last.body)["Message"] == "salary: 4,200"  # opened for the retry

    kms.set_enabled(workspace, key.key_id, False, clock=clock)
    clock.advance(20)
    assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is False
    (discarded,) = Event.objects.filter(kind="subscription.discarded")
    assert "cannot open the message for a retry" in discarded.data["reason"]
    assert not Delivery.objects.exists()


def test_kms_throttling_at_a_retry_waits_instead_of_discarding(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    topic = encrypted_topic(workspace, clock, key.key_id)
    hook = sns.subscribe(
        topic,
        "http",
        inboxes.inbox_url(BASE_URL, workspace, "hook"),
        base_url=BASE_URL,
        clock=clock,
    )
    sns.confirm_subscription(topic, hook.token, authenticated=True, clock=clock)
    inboxes.set_mode(Inbox.objects.get(address="hook"), "error", clock=clock)
    sns.publish(topic, message="x", base_url=BASE_URL, clock=clock)
    delivery = Delivery.objects.get()
    workspace.kms_request_quota = 0  # every KMS request throttled (a playground knob)
    workspace.save(update_fields=["kms_request_quota"])
    clock.advance(20)
    assert deliveries.attempt(delivery.pk, clock_for=lambda w: clock) is False
    delivery.refresh_from_db()
    assert delivery.next_at == clock.now() + 1 and delivery.attempts == 1
    assert not Event.objects.filter(kind="subscription.discarded").exists()
