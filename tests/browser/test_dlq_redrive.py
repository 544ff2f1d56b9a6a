"""The seed note's DLQ lesson, finished: failed messages wait in the dead-letter queue
until the learner presses "Start DLQ redrive" and watches them move back."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser


def test_redrive_moves_dead_letters_back_with_live_progress(workspace_page, screenshot):
    ws = workspace_page
    sqs = ws.sqs()
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    source = sqs.create_queue(
        QueueName="orders",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
        },
    )["QueueUrl"]
    for i in range(4):
        sqs.send_message(QueueUrl=source, MessageBody=f"order {i}")
    # Each message fails once (visible again at once), then is over its count.
    sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert "Messages" not in sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)

    page = ws.open("queues/orders-dlq/")
    expect(page.locator("tr.message-row")).to_have_count(4, timeout=LIVE)
    page.fill("#redrive_rate", "2")
    page.click("#redrive-button")
    task = page.locator("tr.move-task").first
    expect(task).to_have_attribute("data-status", "RUNNING")
    expect(task.locator(".moved")).not_to_have_text("0 / 4", timeout=LIVE)
    screenshot(page, "running")

    expect(task).to_have_attribute("data-status", "COMPLETED", timeout=LIVE)
    expect(task.locator(".moved")).to_have_text("4 / 4")
    expect(page.locator("tr.message-row")).to_have_count(0, timeout=LIVE)
    screenshot(page, "completed")
    back = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in back) == [f"order {i}" for i in range(4)]
