"""The topic and inbox pages through Django's test client: forms answer 422 with the
error at its field and change nothing; nobody reaches another workspace's topic or
inbox."""

from __future__ import annotations

import pytest
from django.test import Client

from broker import sns
from broker.models import Inbox, Queue, Subscription
from broker.sns import inboxes
from tests.factories import make_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def topic(own_workspace, ws_clock):
    return sns.create_topic(own_workspace, "orders", clock=ws_clock)


def test_nobody_reaches_another_workspaces_topic_or_inbox(own_workspace, ws_clock, topic):
    sns.subscribe(topic, "sms", "+15550100", clock=ws_clock)
    sns.publish(topic, message="hi", base_url="http://testserver", clock=ws_clock)
    stranger = Client()
    base = f"/w/{own_workspace.slug}"
    assert stranger.get(f"{base}/topics/orders/").status_code == 404
    assert stranger.get(f"{base}/inboxes/sms/+15550100/").status_code == 404
    assert stranger.post(f"{base}/topics/orders/publish/", {"message": "x"}).status_code == 404
    assert (
        stranger.post(f"{base}/inboxes/sms/+15550100/opt-out/", {"opted_out": "true"}).status_code
        == 404
    )
    assert not Inbox.objects.get(address="+15550100").opted_out


def test_the_topic_page_subscribes_a_queue_it_lets_the_topic_send_to_and_publishes(
    visitor, own_workspace, ws_clock, topic
):
    make_queue(own_workspace, "billing", clock=ws_clock)
    base = f"/w/{own_workspace.slug}/topics/orders"
    response = visitor.post(
        f"{base}/subscribe/",
        {"protocol": "sqs", "endpoint": "billing", "allow_send": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "sns.amazonaws.com" in Queue.objects.get(name="billing").policy  # strict rules
    response = visitor.post(
        f"{base}/publish/",
        {
            "message": "<i>order</i>",
            "attr_name": ["tier"],
            "attr_type": ["String"],
            "attr_value": ["gold"],
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "Published" in response.content.decode()
    page = visitor.get(f"{base}/").content.decode()
    assert "✓ Delivered" in page and "queue billing" in page


def test_an_empty_message_is_refused_next_to_its_field(visitor, own_workspace, topic):
    response = visitor.post(
        f"/w/{own_workspace.slug}/topics/orders/publish/", {"message": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "Invalid parameter: Empty message" in response.content.decode()


def test_a_bad_filter_policy_is_refused_at_subscribe_and_nothing_is_made(
    visitor, own_workspace, ws_clock, topic
):
    make_queue(own_workspace, "billing", clock=ws_clock)
    response = visitor.post(
        f"/w/{own_workspace.slug}/topics/orders/subscribe/",
        {"protocol": "sqs", "endpoint": "billing", "filter_policy": '{"a": "b"}'},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "FilterPolicy" in response.content.decode()
    assert not Subscription.objects.exists()


def test_the_filter_editor_says_why_a_sample_does_not_match(
    visitor, own_workspace, ws_clock, topic
):
    queue = make_queue(own_workspace, "billing", clock=ws_clock)
    subscription = sns.subscribe(
        topic,
        "sqs",
        queue.arn,
        attributes={"FilterPolicy": '{"price": [{"numeric": [">", 100]}]}'},
        clock=ws_clock,
    )
    url = f"/w/{own_workspace.slug}/topics/orders/subscriptions/{subscription.uuid}/filter/check/"
    response = visitor.post(
        url,
        {
            "policy": '{"price": [{"numeric": [">", 100]}]}',
            "scope": "MessageAttributes",
            "attr_name": ["price"],
            "attr_type": ["Number"],
            "attr_value": ["12"],
            "action": "test",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200 and "Does not match" in html and "price" in html
    response = visitor.post(url, {"policy": "", "scope": "MessageAttributes", "action": "save"})
    assert "Removed" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.attributes["FilterPolicy"] == ""


def test_a_request_inbox_page_switches_how_it_answers(visitor, own_workspace, ws_clock):
    base = f"/w/{own_workspace.slug}/inboxes/http/hook"
    assert visitor.get(f"{base}/").status_code == 200  # before anything arrived
    response = visitor.post(f"{base}/mode/", {"mode": "timeout"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert Inbox.objects.get(kind="http", address="hook").mode == "timeout"
    response = visitor.post(f"{base}/mode/", {"mode": "explode"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert (
        inboxes.request_inbox_name(
            own_workspace, f"http://x/_aws/inbox/{own_workspace.account_id}/hook"
        )
        == "hook"
    )


def test_the_workspace_page_switches_between_strict_and_relaxed_rules(visitor, own_workspace):
    assert own_workspace.aws_strict
    response = visitor.post(
        f"/w/{own_workspace.slug}/aws-rules/", {"strict": "false"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "Relaxed" in response.content.decode()
    own_workspace.refresh_from_db()
    assert not own_workspace.aws_strict


def test_the_pipeline_shows_a_filtered_copy_and_a_failed_attempt_where_they_stop(
    own_workspace, ws_clock, topic
):
    from playground import pages

    queue = make_queue(own_workspace, "vip", clock=ws_clock)
    sns.subscribe(
        topic, "sqs", queue.arn, attributes={"FilterPolicy": '{"tier": ["gold"]}'}, clock=ws_clock
    )
    hook = sns.subscribe(
        topic,
        "http",
        inboxes.inbox_url("http://testserver", own_workspace, "hook"),
        base_url="http://testserver",
        clock=ws_clock,
    )
    sns.confirm_subscription(topic, hook.token, authenticated=True, clock=ws_clock)
    inboxes.set_mode(Inbox.objects.get(address="hook"), "error", clock=ws_clock)
    cursor = pages.snapshot(own_workspace.pk, pages.Page("workspace"))[1]
    sns.publish(topic, message="hi", base_url="http://testserver", clock=ws_clock)

    pulses = pages.changes(own_workspace.pk, pages.Page("workspace"), cursor).pulses
    by_kind = {p.get("kind", ""): p for p in pulses}
    assert by_kind["filtered"]["label"].startswith("filtered out: `tier`")
    assert by_kind["retry"]["label"].startswith("attempt 1 of 4 failed · retry at ")


def test_the_topic_settings_card_sets_its_attributes_and_refuses_nonsense(
    visitor, own_workspace, topic
):
    url = f"/w/{own_workspace.slug}/topics/{topic.name}/settings/"
    policy = '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}}}'
    saved = visitor.post(url, {"display_name": "Shop", "delivery_policy": policy})
    assert saved.status_code == 200
    assert "Saved." in saved.content.decode()
    attributes = sns.get_topic_attributes(own_workspace.topics.get())
    assert (attributes["DisplayName"], attributes["DeliveryPolicy"]) == ("Shop", policy)

    refused = visitor.post(url, {"display_name": "Other", "delivery_policy": '{"http": 5}'})
    assert refused.status_code == 422
    assert 'id="topic_delivery_policy_error"' in refused.content.decode()
    # Nothing of a refused form is kept, not even its valid display name.
    assert sns.get_topic_attributes(own_workspace.topics.get())["DisplayName"] == "Shop"


def test_a_topic_is_deleted_from_its_page(visitor, own_workspace, topic):
    response = visitor.post(f"/w/{own_workspace.slug}/topics/{topic.name}/delete/")
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/w/{own_workspace.slug}/"
    assert not own_workspace.topics.exists()
    stranger = Client()
    assert stranger.post(f"/w/{own_workspace.slug}/topics/x/delete/").status_code == 404
