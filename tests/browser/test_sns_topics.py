"""SNS in the browser: a topic built through its page fans one publish out to a queue,
a function and an email inbox, filters one subscriber out with the reason, and takes a
failing HTTP endpoint through its retries into its dead-letter queue, at ×10."""

from __future__ import annotations

import json

import boto3
from playwright.sync_api import expect

from tests.browser.conftest import LIVE


def subscribe(page, protocol: str, endpoint: str, *, filter_policy: str = "", dlq: str = ""):
    page.select_option("#subscribe_protocol", protocol)
    page.fill("#subscribe_endpoint", endpoint)
    page.fill("#subscribe_filter_policy", filter_policy)
    if dlq:
        page.select_option("#subscribe_dead_letter_queue", dlq)
    page.click("#subscribe-button")
    # The form comes back with a note naming the endpoint (a refusal shows at the field).
    expect(page.locator("#subscribe-form .errorlist")).to_have_count(0)
    expect(page.locator("#subscribed-note")).to_contain_text(endpoint)


def test_a_publish_fans_out_filters_and_retries_into_the_dead_letter_queue(
    workspace_page, screenshot
):
    ws = workspace_page
    page = ws.page
    page.fill("#topic_name", "orders")
    page.click("#create-topic-form button[type=submit]")
    expect(page.locator("#create-topic-form .note")).to_have_text("Topic orders is ready.")
    for name in ("billing", "vip", "hook-dlq"):
        ws.create_queue(name)
    ws.create_function("notify", duration=1, timeout=3)
    page.click('article.topic[data-topic="orders"] a.node-title')
    expect(page.locator("h1")).to_contain_text("orders")
    topic_page = page

    subscribe(topic_page, "sqs", "billing")
    subscribe(topic_page, "sqs", "vip", filter_policy='{"tier": ["gold"]}')
    subscribe(topic_page, "lambda", "notify")
    subscribe(topic_page, "email", "learner@example.com")
    expect(topic_page.locator("#subscribed-note")).to_contain_text("Pending confirmation")
    subscribe(topic_page, "inbox", "hook", dlq="hook-dlq")
    rows = topic_page.locator("#topic-subscriptions tbody tr")
    expect(rows).to_have_count(5, timeout=LIVE)
    expect(topic_page.locator("#topic-subscriptions")).to_contain_text("Pending confirmation")

    # The endpoints' owners confirm from what SNS sent them; the hook then answers 500.
    email = ws.open("inboxes/email/learner@example.com/")
    expect(email.locator(".inbox-message .signature")).to_have_count(0)
    email.click(".inbox-message button:has-text('Confirm subscription')")
    expect(email.locator("#inbox-messages .note")).to_contain_text("Subscription confirmed")
    hook = ws.open("inboxes/http/hook/")
    expect(hook.locator(".inbox-message .signature")).to_have_text("✓ signature verifies")
    hook.click(".inbox-message button:has-text('Confirm subscription')")
    expect(hook.locator("#inbox-messages .note")).to_contain_text("Subscription confirmed")
    hook.click("#inbox-settings button[value=error]")
    expect(hook.locator("#inbox-settings button[value=error]")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(topic_page.locator("#topic-subscriptions")).not_to_contain_text(
        "Pending confirmation", timeout=LIVE
    )

    # At ×10 the default HTTP policy's three retries, 20 s apart, take 6 wall seconds.
    topic_page.click("#clock button.speed[data-speed='10']")
    topic_page.fill("#publish_message", "order 7: <b>two mugs</b>")
    topic_page.fill("#publish_subject", "Order 7")
    topic_page.fill("#publish-form input[name=attr_name]", "tier")
    topic_page.fill("#publish-form input[name=attr_value]", "silver")
    topic_page.click("#publish-button")
    expect(topic_page.locator("#published-note")).to_be_visible()

    deliveries = topic_page.locator("#topic-messages .published").first
    outcome = deliveries.locator(".delivery")
    expect(outcome.filter(has_text="queue billing")).to_contain_text("✓ Delivered", timeout=LIVE)
    expect(outcome.filter(has_text="function notify")).to_contain_text("✓ Delivered")
    expect(outcome.filter(has_text="learner@example.com")).to_contain_text("✓ Delivered")
    vip = outcome.filter(has_text="queue vip")
    expect(vip).to_contain_text("⊘ Filtered out")
    expect(vip).to_contain_text("tier")
    hook_row = outcome.filter(has_text="request inbox hook")
    expect(hook_row).to_contain_text("↻ Retrying", timeout=LIVE)
    expect(hook_row).to_contain_text("of 4 failed")
    screenshot(topic_page, "retrying")
    expect(hook_row).to_contain_text("⚑ Sent to its DLQ", timeout=20_000)
    expect(hook_row.locator("a")).to_have_text("hook-dlq")

    # Pushed, not polled: the queue holds its copy; the email shows the text as text.
    expect(email.locator(".inbox-message").first).to_contain_text("order 7: <b>two mugs</b>")
    expect(email.locator(".inbox-message").first).to_contain_text("“Order 7”")
    expect(hook.locator(".inbox-message .badge:has-text('answered 500')")).to_have_count(
        4, timeout=LIVE
    )
    sqs = ws.sqs()
    dlq_url = sqs.get_queue_url(QueueName="hook-dlq")["QueueUrl"]
    (dead,) = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=2)["Messages"]
    assert json.loads(dead["Body"])["Subject"] == "Order 7"

    # The filter editor says why the vip queue got nothing, and what would pass.
    topic_page.locator("#topic-subscriptions tr", has_text="queue vip").locator(
        "button:has-text('Edit filter')"
    ).click()
    editor = topic_page.locator("#filter-editor")
    editor.locator("input[name=attr_name]").fill("tier")
    editor.locator("input[name=attr_value]").fill("silver")
    editor.locator("#filter-test").click()
    expect(editor.locator("#filter-verdict")).to_contain_text("✗ Does not match")
    editor.locator("input[name=attr_value]").first.fill("gold")
    editor.locator("#filter-test").click()
    expect(editor.locator("#filter-verdict")).to_contain_text("✓ Matches")
    editor.locator("textarea[name=policy]").fill('{"tier": [{"numeric": [">", "x"]}]}')
    editor.locator("#filter-save").click()
    expect(editor.locator(".errorlist")).to_contain_text("Invalid parameter: FilterPolicy")
    screenshot(topic_page, "topic")
    screenshot(hook, "request-inbox")
    screenshot(email, "email-inbox")

    workspace = ws.open()
    for node in ("hook", "learner@example.com"):
        expect(workspace.locator(f'article.inbox:has-text("{node}")')).to_be_visible()
    subscriptions = workspace.locator('.edge-list li[data-kind="subscription"]')
    expect(subscriptions).to_have_count(5)
    screenshot(workspace, "pipeline")


def test_html_in_a_published_message_is_shown_as_text_in_the_inbox(workspace_page):
    ws = workspace_page
    sns = boto3.client(
        "sns",
        endpoint_url=ws.endpoint,
        region_name=ws.region,
        aws_access_key_id=ws.access_key,
        aws_secret_access_key=ws.secret,
    )
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15550100")
    sns.publish(TopicArn=topic, Message="<script>alert(1)</script> server down")
    phone = ws.open("inboxes/sms/+15550100/")
    body = phone.locator(".inbox-message pre.body")
    expect(body).to_have_text("<script>alert(1)</script> server down")
    phone.click("#inbox-settings button:has-text('Reply STOP')")
    expect(phone.locator("#inbox-settings")).to_contain_text("Opted out")
    assert sns.check_if_phone_number_is_opted_out(phoneNumber="+15550100")["isOptedOut"]
