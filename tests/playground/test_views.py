from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from broker import clock as clocks
from broker import costs, kms, lambdas, sqs, workspaces
from broker.models import Message, Workspace
from broker.sqs import bulk
from tests.factories import make_function, make_mapping, make_queue

pytestmark = pytest.mark.django_db


def test_a_page_view_creates_no_workspace():
    for _ in range(3):
        response = Client().get("/")
        assert response.status_code == 200
        assert 'id="your-workspace">Create your workspace' in response.content.decode()
    assert not Workspace.objects.filter(local_convention=False).exists()


def test_creating_a_workspace_opens_it_and_the_home_page_links_it():
    client = Client(enforce_csrf_checks=True)
    home = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home).group(1)

    response = client.post("/w/", {"csrfmiddlewaretoken": token})

    workspace = Workspace.objects.get(pk=client.session["workspace_id"])
    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/"
    assert client.get(f"/w/{workspace.slug}/").status_code == 200
    assert f'href="/w/{workspace.slug}/">Open your workspace' in client.get("/").content.decode()


def test_opening_a_workspace_keeps_it_and_an_expired_one_is_offered_anew():
    client = Client()
    client.post("/w/")
    workspace = Workspace.objects.get(pk=client.session["workspace_id"])
    week_ago = timezone.now() - datetime.timedelta(days=8)
    Workspace.objects.filter(pk=workspace.pk).update(last_used=week_ago)
    workspaces._marked.clear()

    assert client.get(f"/w/{workspace.slug}/").status_code == 200
    assert workspaces.expire_unused() == 0  # the page view counted as a use

    Workspace.objects.filter(pk=workspace.pk).update(last_used=week_ago)
    assert workspaces.expire_unused() == 1
    assert client.get(f"/w/{workspace.slug}/").status_code == 404
    assert 'id="your-workspace">Create your workspace' in client.get("/").content.decode()


def test_a_workspace_is_not_created_without_the_form_token():
    response = Client(enforce_csrf_checks=True).post("/w/")
    assert response.status_code == 403
    assert not Workspace.objects.filter(local_convention=False).exists()


def test_creating_again_keeps_the_same_workspace(visitor, own_workspace):
    visitor.post("/w/")
    assert Workspace.objects.count() == 1


def test_returning_visitor_keeps_the_same_workspace(visitor, own_workspace):
    visitor.get("/")
    assert Workspace.objects.count() == 1
    assert visitor.session["workspace_id"] == own_workspace.pk


def test_other_session_gets_404_on_a_workspace(own_workspace, ws_clock):
    make_queue(own_workspace, clock=ws_clock)
    stranger = Client()
    assert stranger.get(f"/w/{own_workspace.slug}/").status_code == 404
    assert stranger.get(f"/w/{own_workspace.slug}/queues/MyTaskQueue/").status_code == 404
    assert stranger.post(f"/w/{own_workspace.slug}/queues/", {"name": "x"}).status_code == 404


def test_local_convention_workspaces_are_listed_and_watchable():
    local = workspaces.local_workspace("123456789012")
    client = Client()
    page = client.get("/").content.decode()
    assert "Account 123456789012" in page
    assert client.get(f"/w/{local.slug}/").status_code == 200


@override_settings(PLAYGROUND_LOCAL_CREDENTIALS=False)
def test_local_convention_workspaces_are_private_when_the_convention_is_off():
    local = workspaces.local_workspace("123456789012")
    client = Client()
    assert "123456789012" not in client.get("/").content.decode()
    assert client.get(f"/w/{local.slug}/").status_code == 404


def test_create_queue_error_is_shown_next_to_its_field_with_422(visitor, own_workspace):
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/",
        {"name": "MyTaskQueue", "visibility_timeout": "99999", "delay_seconds": "0"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="queue_visibility_timeout_error"' in html
    assert "must be an integer between 0 and 43200" in html
    assert 'aria-describedby="queue_visibility_timeout_error"' in html
    assert not own_workspace.queues.exists()


def test_create_queue_with_dead_letter_queue(visitor, own_workspace, ws_clock):
    dlq = make_queue(own_workspace, "MyDLQ", clock=ws_clock)
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/",
        {
            "name": "MyTaskQueue",
            "visibility_timeout": "30",
            "delay_seconds": "0",
            "dead_letter_queue": "MyDLQ",
            "max_receive_count": "3",
        },
    )
    assert response.status_code == 200
    queue = sqs.get_queue(own_workspace, "MyTaskQueue")
    assert queue.dead_letter_target_arn == dlq.arn
    assert queue.max_receive_count == 3


def test_html_in_a_message_body_is_shown_as_text(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    sqs.send_message(queue, body="<script>alert(1)</script>", clock=ws_clock)
    html = visitor.get(f"/w/{own_workspace.slug}/queues/MyTaskQueue/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_send_via_form_enqueues_the_message_with_attributes(visitor, own_workspace, ws_clock):
    make_queue(own_workspace, clock=ws_clock)
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/MyTaskQueue/send/",
        {
            "body": "order #1",
            "attr_name": ["customer", ""],
            "attr_type": ["String", "String"],
            "attr_value": ["ada", ""],
        },
    )
    assert response.status_code == 200
    [peeked] = sqs.peek_messages(sqs.get_queue(own_workspace, "MyTaskQueue"), now=ws_clock.now())
    assert peeked.received.body == "order #1"
    assert peeked.received.message_attributes == {
        "customer": {"DataType": "String", "StringValue": "ada"}
    }
    assert f"/messages/{peeked.received.message_id}/" in response.content.decode()


def test_send_without_body_shows_the_aws_error_with_422(visitor, own_workspace, ws_clock):
    make_queue(own_workspace, clock=ws_clock)
    response = visitor.post(f"/w/{own_workspace.slug}/queues/MyTaskQueue/send/", {"body": ""})
    assert response.status_code == 422
    assert "MessageBody" in response.content.decode()
    assert not Message.objects.exists()


def test_poll_receives_as_console_and_delete_removes(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    sqs.send_message(queue, body="hello", clock=ws_clock)
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/MyTaskQueue/poll/", {"max_number": "10"}
    )
    html = response.content.decode()
    message = Message.objects.get()
    assert message.receive_count == 1
    assert f'id="received-{message.message_id}"' in html
    handle = html.split('name="receipt_handle" value="')[1].split('"')[0]
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/MyTaskQueue/delete/",
        {"receipt_handle": handle, "message_id": message.message_id},
    )
    assert response.status_code == 200
    assert not Message.objects.exists()


def test_console_poll_at_the_in_flight_limit_shows_overlimit(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    bulk.fill(queue, sqs.IN_FLIGHT_LIMIT, now=ws_clock.now(), in_flight_for=600)
    sqs.send_message(queue, body="waiting", clock=ws_clock)
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/MyTaskQueue/poll/", {"max_number": "1"}
    )
    assert response.status_code == 422
    assert "Too many messages have been received without being deleted" in (
        response.content.decode()
    )


def test_message_timeline_shows_its_events_after_deletion(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    sent = sqs.send_message(queue, body="hello", clock=ws_clock)
    received = sqs.receive_messages(queue, receiver="console", clock=ws_clock)
    sqs.delete_message(queue, received[0].receipt_handle, actor="console", clock=ws_clock)
    html = visitor.get(f"/w/{own_workspace.slug}/messages/{sent.message_id}/").content.decode()
    assert "Sent" in html and "Received</strong> by console" in html and "Deleted" in html


def test_function_page_and_trigger_toggle(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    function = make_function(own_workspace, clock=ws_clock)
    mapping = make_mapping(queue, function, clock=ws_clock)
    assert visitor.get(f"/w/{own_workspace.slug}/functions/{function.name}/").status_code == 200
    response = visitor.post(
        f"/w/{own_workspace.slug}/triggers/{mapping.uuid}/", {"action": "disable"}
    )
    assert response.status_code == 200
    mapping.refresh_from_db()
    assert mapping.enabled is False


def test_add_trigger_wants_a_window_for_a_batch_over_ten(visitor, own_workspace, ws_clock):
    make_queue(own_workspace, clock=ws_clock)
    make_function(own_workspace, clock=ws_clock)
    fields = {
        "queue": "MyTaskQueue",
        "function": "ConsumerFunction",
        "batch_size": "11",
        "batching_window": "0",
        "maximum_concurrency": "5",
        "enabled": "on",
    }
    response = visitor.post(f"/w/{own_workspace.slug}/triggers/", fields)
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="trigger_batching_window_error"' in page
    assert "Maximum batch window in seconds must be greater than 0" in page
    assert not own_workspace.mappings.exists()

    fields["batching_window"] = "5"
    assert visitor.post(f"/w/{own_workspace.slug}/triggers/", fields).status_code == 200
    mapping = own_workspace.mappings.get()
    assert (mapping.batch_size, mapping.maximum_batching_window) == (11, 5)


def test_a_triggers_settings_are_changed_in_its_row_and_nonsense_is_refused(
    visitor, own_workspace, ws_clock
):
    queue = make_queue(own_workspace, clock=ws_clock)
    function = make_function(own_workspace, clock=ws_clock)
    mapping = make_mapping(queue, function, clock=ws_clock)
    url = f"/w/{own_workspace.slug}/triggers/{mapping.uuid}/"
    fields = {"action": "update", "batch_size": "6", "batching_window": "0"}

    response = visitor.post(url, {**fields, "maximum_concurrency": "50"})
    assert response.status_code == 200
    mapping.refresh_from_db()
    assert (mapping.batch_size, mapping.maximum_concurrency) == (6, 50)
    assert 'value="6"' in response.content.decode()

    refused = visitor.post(url, {**fields, "maximum_concurrency": "1"})
    assert refused.status_code == 422
    assert f'id="trigger-{mapping.uuid}-error"' in refused.content.decode()
    assert "between 2 and 1000" in refused.content.decode()
    mapping.refresh_from_db()
    assert mapping.maximum_concurrency == 50

    assert visitor.post(url, {**fields, "maximum_concurrency": ""}).status_code == 200
    mapping.refresh_from_db()
    assert mapping.maximum_concurrency is None


def test_a_function_duration_of_1e308_seconds_is_refused_next_to_the_field(visitor, own_workspace):
    response = visitor.post(
        f"/w/{own_workspace.slug}/functions/",
        {
            "name": "slow",
            "duration": "1e308",
            "timeout": "3",
            "log_template": "Processing message: {body}",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="function_duration_error"' in page
    assert "from 0 to 86400" in page
    assert not own_workspace.functions.exists()


def test_the_role_card_sets_presets_and_refuses_an_unknown_action(visitor, own_workspace, ws_clock):
    function = make_function(own_workspace, clock=ws_clock)
    url = f"/w/{own_workspace.slug}/functions/{function.name}/role/"

    assert visitor.post(url, {"preset": "execution-role"}).status_code == 200
    function.refresh_from_db()
    assert function.role_actions == [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ]
    refused = visitor.post(url, {"preset": "custom", "actions": ["sqs:Everything"]})
    assert refused.status_code == 422
    assert "Unknown SQS action" in refused.content.decode()
    function.refresh_from_db()
    assert len(function.role_actions) == 3
    assert visitor.post(url, {"preset": "all"}).status_code == 200
    function.refresh_from_db()
    assert function.role_actions is None


def test_a_queue_and_a_function_are_deleted_from_their_pages(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    function = make_function(own_workspace, clock=ws_clock)
    make_mapping(queue, function, clock=ws_clock)

    response = visitor.post(f"/w/{own_workspace.slug}/functions/{function.name}/delete/")
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/w/{own_workspace.slug}/"
    assert not own_workspace.functions.exists()
    assert not own_workspace.mappings.exists()

    response = visitor.post(f"/w/{own_workspace.slug}/queues/{queue.name}/delete-queue/")
    assert response.status_code == 204
    assert not own_workspace.queues.exists()
    assert visitor.get(f"/w/{own_workspace.slug}/queues/{queue.name}/").status_code == 404


def test_another_workspace_cannot_delete_a_function(visitor, own_workspace, ws_clock):
    other = workspaces.create_workspace()
    function = make_function(other, clock=ws_clock)
    response = visitor.post(f"/w/{other.slug}/functions/{function.name}/delete/")
    assert response.status_code == 404
    assert other.functions.exists()


def test_clock_controls_change_the_workspace_clock(visitor, own_workspace):
    url = f"/w/{own_workspace.slug}/clock/"
    assert visitor.post(url, {"action": "speed", "speed": "10"}).status_code == 200
    assert visitor.post(url, {"action": "pause"}).status_code == 200
    own_workspace.refresh_from_db()
    assert own_workspace.speed == 10
    assert own_workspace.paused is True


def test_create_a_fifo_queue_with_the_form(visitor, own_workspace):
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/",
        {
            "name": "orders.fifo",
            "queue_type": "fifo",
            "content_based_deduplication": "on",
            "visibility_timeout": "30",
            "delay_seconds": "0",
        },
    )
    assert response.status_code == 200
    queue = sqs.get_queue(own_workspace, "orders.fifo")
    assert queue.is_fifo and queue.content_based_deduplication


def test_fifo_form_without_the_suffix_says_so_next_to_the_name(visitor, own_workspace):
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/",
        {"name": "orders", "queue_type": "fifo", "visibility_timeout": "30", "delay_seconds": "0"},
    )
    assert response.status_code == 422
    assert "must end with .fifo suffix" in response.content.decode()
    assert not own_workspace.queues.filter(name="orders").exists()


def test_sending_a_duplicate_to_a_fifo_queue_shows_it_absorbed(visitor, own_workspace, ws_clock):
    make_queue(own_workspace, "orders.fifo", clock=ws_clock, FifoQueue="true")
    url = f"/w/{own_workspace.slug}/queues/orders.fifo/send/"
    form = {"body": "pay 10", "group_id": "customer-1", "deduplication_id": "pay-1"}
    assert "sequence number" in visitor.post(url, form).content.decode()
    again = visitor.post(url, form).content.decode()
    assert "Duplicate absorbed" in again
    page = visitor.get(f"/w/{own_workspace.slug}/queues/orders.fifo/").content.decode()
    assert 'data-group="customer-1"' in page


def test_fifo_send_without_a_group_shows_the_error_next_to_the_group_field(
    visitor, own_workspace, ws_clock
):
    make_queue(
        own_workspace,
        "orders.fifo",
        clock=ws_clock,
        FifoQueue="true",
        ContentBasedDeduplication="true",
    )
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/orders.fifo/send/", {"body": "x", "group_id": ""}
    )
    assert response.status_code == 422
    html = response.content.decode()
    # Django's field group: label, help text, errors, input.
    error = html.index("The request must contain the parameter MessageGroupId.")
    assert html.index("Message group ID") < error < html.index('name="group_id"')


def test_dead_letter_queue_page_starts_and_cancels_a_redrive(visitor, own_workspace, ws_clock):
    dlq = make_queue(own_workspace, "orders-dlq", clock=ws_clock)
    make_queue(
        own_workspace,
        "orders",
        clock=ws_clock,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}'),
    )
    sqs.send_message(dlq, body="stuck", clock=ws_clock)
    base = f"/w/{own_workspace.slug}/queues/orders-dlq/"
    page = visitor.get(base).content.decode()
    assert "Start DLQ redrive" in page

    started = visitor.post(base + "redrive/", {"destination": "", "rate": "1"})
    assert started.status_code == 200
    task = own_workspace.move_tasks.get()
    assert f'id="move-task-{task.pk}"' in started.content.decode()

    again = visitor.post(base + "redrive/", {"destination": "", "rate": "1"})
    assert again.status_code == 422
    assert "already a task running" in again.content.decode()

    cancelled = visitor.post(base + "redrive/cancel/", {"handle": task.handle})
    assert cancelled.status_code == 200
    task.refresh_from_db()
    assert task.status == "CANCELLED"


def test_redrive_rate_out_of_range_is_shown_next_to_the_field(visitor, own_workspace, ws_clock):
    dlq = make_queue(own_workspace, "orders-dlq", clock=ws_clock)
    make_queue(
        own_workspace,
        "orders",
        clock=ws_clock,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}'),
    )
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/orders-dlq/redrive/", {"destination": "", "rate": "900"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert (
        html.index("Messages per second")
        < html.index("Must be between 1 and 500")
        < html.index('name="rate"')
    )


def _attributes_form(queue, clock, **changes) -> dict:
    current = sqs.get_queue_attributes(queue, ["All"], clock=clock)
    fields = (
        "VisibilityTimeout",
        "DelaySeconds",
        "MessageRetentionPeriod",
        "MaximumMessageSize",
        "ReceiveMessageWaitTimeSeconds",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "Policy",
        "SqsManagedSseEnabled",
    )
    return {**{f: current.get(f, "") for f in fields}, **changes}


def test_attribute_form_saves_what_changed(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/MyTaskQueue/attributes/",
        _attributes_form(queue, ws_clock, VisibilityTimeout="45", DelaySeconds="5"),
    )
    assert response.status_code == 200
    assert "Saved: DelaySeconds, VisibilityTimeout." in response.content.decode()
    queue.refresh_from_db()
    assert (queue.visibility_timeout, queue.delay_seconds) == (45, 5)


def test_attribute_form_shows_every_refusal_next_to_its_field_and_saves_nothing(
    visitor, own_workspace, ws_clock
):
    queue = make_queue(own_workspace, clock=ws_clock)
    response = visitor.post(
        f"/w/{own_workspace.slug}/queues/MyTaskQueue/attributes/",
        _attributes_form(
            queue,
            ws_clock,
            VisibilityTimeout="43201",
            MessageRetentionPeriod="59",
            DelaySeconds="5",
            Policy="{not json",
        ),
    )
    assert response.status_code == 422
    html = response.content.decode()
    for label, message in (
        ("Visibility timeout", "VisibilityTimeout"),
        ("Retention period", "MessageRetentionPeriod"),
        ("Access policy", "Invalid value for the parameter Policy"),
    ):
        assert html.index(label) < html.index(message, html.index(label))
    queue.refresh_from_db()
    assert (queue.visibility_timeout, queue.delay_seconds) == (30, 0)


def test_kms_keys_card_creates_a_key_with_an_alias_and_disables_it(visitor, own_workspace):
    base = f"/w/{own_workspace.slug}/kms/"
    created = visitor.post(base, {"alias": "alias/orders"})
    assert created.status_code == 200
    key = own_workspace.kms_keys.get()
    assert "alias/orders" in created.content.decode()
    disabled = visitor.post(f"{base}{key.key_id}/", {"enabled": "false"})
    assert disabled.status_code == 200
    key.refresh_from_db()
    assert not key.enabled
    refused = visitor.post(base, {"alias": "alias/aws/mine"})
    assert refused.status_code == 422
    assert "alias/aws/" in refused.content.decode()


def test_kms_keys_card_makes_a_signing_key_that_a_queue_then_refuses(
    visitor, own_workspace, ws_clock
):
    visitor.post(f"/w/{own_workspace.slug}/kms/", {"type": "RSA_2048/SIGN_VERIFY"})
    key = own_workspace.kms_keys.get()
    assert (key.key_spec, key.key_usage) == ("RSA_2048", "SIGN_VERIFY")
    queue = make_queue(own_workspace, clock=ws_clock, KmsMasterKeyId=key.key_id)
    sent = visitor.post(f"/w/{own_workspace.slug}/queues/{queue.name}/send/", {"body": "x"})
    assert sent.status_code == 422
    assert "SQS encrypts with symmetric ENCRYPT_DECRYPT keys only" in sent.content.decode()


def test_kms_card_sets_the_request_quota_and_shows_what_sqs_asked_of_kms(
    visitor, own_workspace, ws_clock
):
    base = f"/w/{own_workspace.slug}/"
    refused = visitor.post(base + "kms-quota/", {"quota": "0"})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert html.index("Request quota") < html.index("greater than or equal to 1")
    assert visitor.post(base + "kms-quota/", {"quota": "1000"}).status_code == 200
    own_workspace.refresh_from_db()
    assert own_workspace.kms_request_quota == 1000

    key = kms.create_key(own_workspace, clock=ws_clock)
    queue = make_queue(own_workspace, "orders", clock=ws_clock, KmsMasterKeyId=key.key_id)
    visitor.post(f"{base}queues/orders/send/", {"body": "x"})
    visitor.post(f"{base}queues/orders/send/", {"body": "y"})  # the console's data key, reused
    card = visitor.get(base).content.decode()
    card = card[card.index('id="kms-keys"') :]
    assert '<span data-requests="generate">1</span> GenerateDataKey' in card
    assert "GenerateDataKey + Decrypt for <code>console</code>" in card
    assert f'href="/w/{own_workspace.slug}/queues/{queue.name}/"' in card


def test_kms_card_opts_the_account_out_of_kms_and_then_refuses_to_make_keys(
    visitor, own_workspace, ws_clock
):
    base = f"/w/{own_workspace.slug}/"
    key = kms.create_key(own_workspace, clock=ws_clock)
    card = visitor.post(base + "kms-opt-in/", {"opted_in": "false"}).content.decode()
    assert f"Account {own_workspace.account_id} is not opted in to AWS KMS." in card
    assert "Opt in to KMS</button>" in card
    refused = visitor.post(base + "kms/", {"type": "SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT"})
    assert refused.status_code == 422
    assert "needs a subscription for the service" in refused.content.decode()
    assert visitor.post(f"{base}kms/{key.key_id}/", {"enabled": "false"}).status_code == 422
    assert own_workspace.kms_keys.count() == 1

    card = visitor.post(base + "kms-opt-in/", {"opted_in": "true"}).content.decode()
    assert "Opt out of KMS</button>" in card
    own_workspace.refresh_from_db()
    assert own_workspace.kms_opted_in


def test_a_trigger_whose_poller_cannot_decrypt_says_so_on_the_function_and_the_trigger(
    visitor, own_workspace, ws_clock
):
    key = kms.create_key(own_workspace, clock=ws_clock)
    queue = make_queue(own_workspace, "payroll", clock=ws_clock, KmsMasterKeyId=key.key_id)
    mapping = make_mapping(queue, make_function(own_workspace, clock=ws_clock), clock=ws_clock)
    sqs.send_message(queue, body="x", clock=ws_clock)
    kms.set_enabled(own_workspace, key.key_id, False, clock=ws_clock)
    lambdas.poll(mapping, clock=ws_clock)

    page = visitor.get(f"/w/{own_workspace.slug}/").content.decode()
    assert "Cannot poll payroll: <strong>KmsDisabled</strong>" in page
    assert "polling fails: KmsDisabled" in page


def test_a_queue_card_at_the_in_flight_limit_says_so_with_thousands_separators(
    visitor, own_workspace, ws_clock
):
    queue = make_queue(own_workspace, "full.fifo", clock=ws_clock, FifoQueue="true")
    bulk.fill(queue, sqs.FIFO_IN_FLIGHT_LIMIT, now=ws_clock.now(), in_flight_for=600)
    html = visitor.get(f"/w/{own_workspace.slug}/").content.decode()
    card = html[html.index(f'id="queue-{queue.pk}"') :]
    assert 'class="count in_flight at-limit"' in card[:2000]
    assert 'data-count="in_flight">20,000<' in card[:2000]


def test_message_page_shows_ciphertext_at_rest_and_plaintext_to_the_owner(
    visitor, own_workspace, ws_clock
):
    queue = make_queue(own_workspace, clock=ws_clock)
    sent = sqs.send_message(queue, body="card 4111", clock=ws_clock)
    html = visitor.get(f"/w/{own_workspace.slug}/messages/{sent.message_id}/").content.decode()
    assert '<pre class="body">card 4111</pre>' in html
    ciphertext = html[html.index('id="ciphertext">') :]
    assert "4111" not in ciphertext[:300]
    assert "SqsManagedSseEnabled" in html


def test_a_database_is_created_and_a_function_writes_to_it(visitor, own_workspace, ws_clock):
    url = f"/w/{own_workspace.slug}/databases/"
    created = visitor.post(url, {"name": "orders-db", "capacity": "50", "latency": "0.02"})
    assert created.status_code == 200
    assert "Database orders-db is up." in created.content.decode()
    response = visitor.post(
        f"/w/{own_workspace.slug}/functions/",
        {
            "name": "writer",
            "duration": "1",
            "timeout": "3",
            "log_template": "Processing message: {body}",
            "database": "orders-db",
        },
    )
    assert response.status_code == 200
    assert own_workspace.functions.get().database == "orders-db"
    page = visitor.get(f"/w/{own_workspace.slug}/").content.decode()
    database = own_workspace.databases.get()
    assert f'id="database-{database.pk}"' in page
    assert f'data-to="database-{database.pk}" data-kind="writes"' in page


def test_nonsense_database_settings_are_shown_next_to_the_field(visitor, own_workspace):
    url = f"/w/{own_workspace.slug}/databases/"
    response = visitor.post(url, {"name": "orders-db", "capacity": "0", "latency": "0.01"})
    assert response.status_code == 422
    assert 'id="database_capacity_error"' in response.content.decode()
    response = visitor.post(url, {"name": "bad name!", "capacity": "5", "latency": "0.01"})
    assert 'id="database_name_error"' in response.content.decode()
    assert not own_workspace.databases.exists()


def test_a_database_goes_down_for_five_minutes_comes_back_and_is_deleted(
    visitor, own_workspace, ws_clock
):
    from broker.pipeline import databases

    db = databases.create_database(own_workspace, "orders-db", clock=ws_clock)
    url = f"/w/{own_workspace.slug}/databases/orders-db/"
    down = visitor.post(url, {"action": "down_for"})
    assert "Down until" in down.content.decode()
    db.refresh_from_db()
    assert db.down_until == pytest.approx(ws_clock.now() + 300, abs=5)
    up = visitor.post(url, {"action": "up"})
    assert "Down for 5 minutes" in up.content.decode()
    assert visitor.post(url, {"action": "explode"}).status_code == 400
    assert visitor.post(url, {"action": "delete"}).status_code == 200
    assert not own_workspace.databases.exists()


def test_another_workspace_cannot_take_a_database_down(visitor, own_workspace, ws_clock):
    from broker.pipeline import databases

    other = workspaces.create_workspace()
    databases.create_database(other, "orders-db", clock=ws_clock)
    response = visitor.post(f"/w/{other.slug}/databases/orders-db/", {"action": "down"})
    assert response.status_code == 404
    assert not other.databases.get().down


def test_the_cost_panel_bills_the_run_and_its_reset_button_starts_a_new_one(
    visitor, own_workspace, ws_clock
):
    costs.add(own_workspace, sqs_requests=2_500_000, lambda_requests=3)
    page = visitor.get(f"/w/{own_workspace.slug}/").content.decode()
    assert 'data-line="sqs_requests" data-quantity="2500000"' in page
    assert "2,500,000 <span" in page
    assert "$0.40 per million requests" in page
    assert '<td class="num" id="cost-total">$1.00</td>' in page  # $1.00 + $0.0000006
    assert "The free tier is left out" in page

    response = visitor.post(f"/w/{own_workspace.slug}/costs/reset/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    panel = response.content.decode()
    assert panel.strip().startswith('<div id="cost-panel"')
    assert "Nothing billed yet in this run" in panel
    assert costs.usage(own_workspace)["sqs_requests"] == 0
    assert visitor.get(f"/w/{own_workspace.slug}/costs/reset/").status_code == 405


def test_a_producer_is_added_edited_stopped_and_deleted(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, "OrdersQueue", clock=ws_clock)
    url = f"/w/{own_workspace.slug}/producers/"
    fields = {
        "name": "shop",
        "target": queue.arn,
        "rate": "2",
        "peak_rate": "20",
        "peak_every": "3600",
        "peak_length": "300",
        "body_template": '{"order": {n}}',
    }
    created = visitor.post(url, fields)
    assert created.status_code == 200
    assert "shop is calling." in created.content.decode()
    producer = own_workspace.producers.get()
    assert (producer.rate, producer.peak_rate, producer.peak_length) == (2.0, 20.0, 300)
    page = visitor.get(f"/w/{own_workspace.slug}/").content.decode()
    assert f'id="producer-{producer.pk}"' in page
    assert f'data-from="producer-{producer.pk}" data-to="queue-{queue.pk}"' in page
    assert "peaks of 20/s for 300 s every 3600 s" in page

    node = f"{url}shop/"
    edited = visitor.post(node, {"action": "update", **fields, "rate": "5"})
    assert edited.status_code == 200
    producer.refresh_from_db()
    assert producer.rate == 5.0
    refused = visitor.post(node, {"action": "update", **fields, "peak_length": "4000"})
    assert refused.status_code == 422
    assert "no longer than the time between peaks" in refused.content.decode()
    producer.refresh_from_db()
    assert producer.peak_length == 300
    stopped = visitor.post(node, {"action": "stop"})
    assert "Start" in stopped.content.decode()
    producer.refresh_from_db()
    assert not producer.enabled
    assert visitor.post(node, {"action": "delete"}).status_code == 200
    assert not own_workspace.producers.exists()


def test_nonsense_producer_settings_are_shown_next_to_the_field(visitor, own_workspace, ws_clock):
    queue = make_queue(own_workspace, clock=ws_clock)
    fields = {
        "name": "shop",
        "target": queue.arn,
        "rate": "-1",
        "peak_rate": "0",
        "peak_every": "0",
        "peak_length": "0",
        "body_template": "hello",
    }
    response = visitor.post(f"/w/{own_workspace.slug}/producers/", fields)
    assert response.status_code == 422
    assert 'id="producer_rate_error"' in response.content.decode()
    response = visitor.post(
        f"/w/{own_workspace.slug}/producers/", {**fields, "rate": "1", "target": "arn:x"}
    )
    assert 'id="producer_target_error"' in response.content.decode()
    assert not own_workspace.producers.exists()


def test_another_workspace_cannot_stop_a_producer(visitor, own_workspace, ws_clock):
    from broker.pipeline import producers

    other = workspaces.create_workspace()
    queue = make_queue(other, clock=ws_clock)
    producers.create_producer(other, "shop", target_arn=queue.arn, clock=ws_clock)
    response = visitor.post(f"/w/{other.slug}/producers/shop/", {"action": "stop"})
    assert response.status_code == 404
    assert other.producers.get().enabled


def test_the_function_form_takes_a_duration_range_and_random_failures(visitor, own_workspace):
    fields = {
        "name": "flaky",
        "duration": "1",
        "duration_max": "4",
        "timeout": "5",
        "fail_when_attribute": "kind=poison",
        "fail_percent": "20",
        "failure": "crash",
        "log_template": "Processing message: {body}",
    }
    response = visitor.post(f"/w/{own_workspace.slug}/functions/", fields)
    assert response.status_code == 200
    function = own_workspace.functions.get()
    assert (function.duration_max, function.fail_percent, function.failure) == (4.0, 20, "crash")
    page = visitor.get(f"/w/{own_workspace.slug}/").content.decode()
    assert "runs 1–4 s · timeout 5 s · fails 20 %" in page

    refused = visitor.post(
        f"/w/{own_workspace.slug}/functions/", {**fields, "name": "other", "fail_percent": "101"}
    )
    assert refused.status_code == 422
    assert 'id="function_fail_percent_error"' in refused.content.decode()
    backwards = visitor.post(
        f"/w/{own_workspace.slug}/functions/", {**fields, "name": "other", "duration_max": "0.5"}
    )
    assert 'id="function_duration_max_error"' in backwards.content.decode()
    assert own_workspace.functions.count() == 1


def test_a_local_convention_workspace_says_anyone_can_change_it():
    local = workspaces.local_workspace("123456789012")
    page = Client().get(f"/w/{local.slug}/").content.decode()
    assert 'id="shared-workspace"' in page
    assert "anyone who can reach this server can open" in page


def test_a_browser_workspace_does_not_say_it_is_shared(visitor, own_workspace):
    assert 'id="shared-workspace"' not in visitor.get(f"/w/{own_workspace.slug}/").content.decode()


def test_deleting_a_received_message_without_its_id_still_deletes_it():
    """The page sends the id only to name the row it replaces (found by the form fuzz)."""
    client = Client()
    client.post("/w/")
    workspace = Workspace.objects.get(pk=client.session["workspace_id"])
    ws_clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, "orders", clock=ws_clock)
    sqs.send_message(queue, body="x", clock=ws_clock)
    [received] = sqs.receive_messages(queue, clock=ws_clock)

    for message_id in ("", "../x"):
        answer = client.post(
            reverse("queue-delete-message", kwargs={"slug": workspace.slug, "name": "orders"}),
            {"receipt_handle": received.receipt_handle, "message_id": message_id},
            HTTP_HX_REQUEST="true",
        )
        assert answer.status_code == 200
        assert "Deleted." in answer.content.decode()
    assert not Message.objects.filter(queue=queue).exists()
