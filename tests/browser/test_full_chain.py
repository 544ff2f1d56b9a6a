"""The lesson's "Practical Test: The Full Chain", as a learner runs it in the playground.

Setup SQS with lambda: a queue MyTaskQueue with the defaults, a consumer function,
an SQS trigger with batch size 10. Then the producer (boto3 here) sends a message
and the learner watches it arrive in the queue and show up in the function's log,
without reloading anything.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser

# Records every message row the queue page ever shows, so a row that appears and
# is gone a second later (the trigger consumes it) is still seen.
WATCH_MESSAGE_ROWS = """() => {
  window.seenRows = [];
  const look = () => document.querySelectorAll("tr.message-row").forEach((tr) => {
    if (!window.seenRows.includes(tr.id)) window.seenRows.push(tr.id);
  });
  look();
  new MutationObserver(look).observe(document.body, {childList: true, subtree: true});
}"""


def log_lines(page: Page):
    return page.locator("ol[id^=log-] li[id^=log-line-]")


def test_message_sent_by_boto3_flows_through_queue_into_function_log(workspace_page, screenshot):
    ws = workspace_page
    ws.create_queue("MyTaskQueue")
    ws.create_function("consumer", duration=1, timeout=3)
    ws.add_trigger("MyTaskQueue", "consumer", batch_size=10)

    queue_page = ws.open("queues/MyTaskQueue/")
    function_page = ws.open("functions/consumer/")
    queue_page.evaluate(WATCH_MESSAGE_ROWS)

    sqs = ws.sqs()
    queue_url = sqs.get_queue_url(QueueName="MyTaskQueue")["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=queue_url, MessageBody="Hello from the producer")[
        "MessageId"
    ]

    # The queue page shows the message within a second or two, without a reload
    # (a reload would have dropped the watcher installed above).
    queue_page.wait_for_function(
        "id => window.seenRows.includes(id)", arg=f"message-{message_id}", timeout=2_500
    )

    # The function's log stream: START, the function's own line, END, REPORT.
    lines = log_lines(function_page)
    expect(lines.filter(has_text="Processing message: Hello from the producer")).to_have_count(
        1, timeout=LIVE
    )
    expect(lines.filter(has_text=re.compile(r"REPORT RequestId: \S+\s+Duration:"))).to_have_count(
        1, timeout=LIVE
    )
    expect(
        lines.filter(has_text=re.compile(r"START RequestId: \S+ Version: \$LATEST"))
    ).to_have_count(1)
    expect(lines.filter(has_text=re.compile(r"END RequestId: "))).to_have_count(1)
    expect(function_page.locator("tr[id^=invocation-][data-status=succeeded]")).to_have_count(1)

    # The batch succeeded, so the trigger deleted it: the queue is empty again.
    expect(queue_page.locator("tr.message-row")).to_have_count(0, timeout=LIVE)
    expect(queue_page.locator(".message-table tr.empty")).to_have_text("The queue is empty.")

    page = ws.page
    card = page.locator('article.queue[data-queue="MyTaskQueue"]')
    expect(card.locator("[data-count=visible]")).to_have_text("0", timeout=LIVE)
    expect(card.locator("[data-count=in_flight]")).to_have_text("0", timeout=LIVE)
    expect(page.locator("article.function [data-count=last]")).to_have_text("Succeeded")
    expect(page.locator("svg.edges path.edge-send")).to_have_count(1)
    expect(page.locator("svg.edges path.edge-trigger")).to_have_count(1)
    send_call = page.locator('li.api-call[data-action="SendMessage"]')
    expect(send_call).to_have_count(1, timeout=LIVE)
    expect(send_call.locator(".api-result")).to_have_text("200")

    screenshot(page, "workspace")
    screenshot(queue_page, "queue")
    screenshot(function_page, "function")

    timeline = ws.open(f"messages/{message_id}/")
    for kind in ("sent", "received", "deleted"):
        expect(timeline.locator(f"li.tl.tl-{kind}")).to_have_count(1)
    expect(timeline.locator("li.tl.tl-received")).to_contain_text("lambda:consumer")
    screenshot(timeline, "timeline")


def test_html_in_a_message_body_is_shown_as_text(workspace_page, screenshot):
    ws = workspace_page
    ws.create_queue("MyTaskQueue")
    ws.create_function("consumer", duration=1, timeout=3)
    ws.add_trigger("MyTaskQueue", "consumer", batch_size=10)
    function_page = ws.open("functions/consumer/")

    sqs = ws.sqs()
    queue_url = sqs.get_queue_url(QueueName="MyTaskQueue")["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=queue_url, MessageBody="<b>bold</b>")["MessageId"]

    expect(
        log_lines(function_page).filter(has_text="Processing message: <b>bold</b>")
    ).to_have_count(1, timeout=LIVE)
    expect(function_page.locator("ol.log b")).to_have_count(0)

    page = ws.page
    expect(page.locator('li.api-call[data-action="SendMessage"]')).to_have_count(1, timeout=LIVE)
    expect(page.locator("#api-feed b")).to_have_count(0)

    timeline = ws.open(f"messages/{message_id}/")
    expect(timeline.locator("li.tl.tl-deleted")).to_have_count(1, timeout=LIVE)
    expect(timeline.locator("main b")).to_have_count(0)
    screenshot(function_page, "function")


def test_one_publish_is_pushed_to_every_subscribed_queue_on_the_pipeline(
    workspace_page, screenshot
):
    ws = workspace_page
    sns = boto3.client(
        "sns",
        endpoint_url=ws.endpoint,
        region_name=ws.region,
        aws_access_key_id=ws.access_key,
        aws_secret_access_key=ws.secret,
    )
    sqs = ws.sqs()
    topic = sns.create_topic(Name="order-events")["TopicArn"]
    for name in ("billing", "shipping"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        # A learner's workspace keeps AWS's rules: the queue must let the topic send to it.
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
        }
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [statement]})}
        )
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    page = ws.page
    expect(page.locator('article.topic[data-topic="order-events"]')).to_be_visible(timeout=LIVE)
    expect(page.locator('.edge-list li[data-kind="subscription"]')).to_have_count(2, timeout=LIVE)
    sns.publish(TopicArn=topic, Message="order 7 placed")
    # Push: both queues hold a copy at once, waiting to be polled.
    for name in ("billing", "shipping"):
        card = page.locator(f'article.queue[data-queue="{name}"]')
        expect(card.locator('[data-count="visible"]')).to_have_text("1", timeout=LIVE)
    screenshot(page, "fan-out")
