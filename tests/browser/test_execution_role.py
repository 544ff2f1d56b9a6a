"""The seed's IAM lesson: the consumer's role needs ReceiveMessage, DeleteMessage and
GetQueueAttributes. Without DeleteMessage the function succeeds, yet every message
comes back and ends in the dead-letter queue, and its timeline says why."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser

SLOW = 20_000


def test_a_role_without_delete_message_sends_the_message_to_the_dlq(workspace_page, screenshot):
    ws = workspace_page
    ws.create_queue("OrdersDLQ")
    ws.create_queue("OrdersQueue", visibility_timeout=10)
    sqs = ws.sqs()
    url = sqs.get_queue_url(QueueName="OrdersQueue")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="OrdersDLQ")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
        },
    )
    ws.create_function("consumer", duration=1, timeout=5)
    ws.add_trigger("OrdersQueue", "consumer", batch_size=1)

    page = ws.open("functions/consumer/")
    expect(page.locator("#function-role")).to_contain_text("Enforced")
    page.click("#role-execution-role")
    expect(page.locator("#function-role .note")).to_have_text(
        "Saved: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes"
    )
    page.uncheck("#role-DeleteMessage")
    page.click("#role-save")
    expect(page.locator("#function-role .note")).to_have_text(
        "Saved: sqs:ReceiveMessage, sqs:GetQueueAttributes"
    )
    screenshot(page, "role")

    ws.set_speed("10")
    message_id = sqs.send_message(QueueUrl=url, MessageBody="order 1")["MessageId"]
    timeline = ws.open(f"messages/{message_id}/")
    expect(timeline.locator("li.tl-batch_failed").first).to_contain_text(
        "consumer processed it, but could not delete it: its execution role does not allow "
        "sqs:DeleteMessage",
        timeout=SLOW,
    )
    expect(timeline.locator("li.tl-moved_to_dlq")).to_contain_text("OrdersDLQ", timeout=SLOW)
    expect(timeline.locator("li.tl-received")).to_have_count(2, timeout=LIVE)
    screenshot(timeline, "timeline")
