"""The lesson's question, seen in the playground.

AWS refuses a trigger whose queue hides messages for less than the function's
timeout, but only when the trigger is made: lowering the queue's timeout afterwards
is accepted, and that is how the lesson's message ends up processed twice.

"Your Consumer Lambda takes 40 seconds to process a message, but the message
reappears in the queue after 30 seconds, causing it to be processed twice. How do
you fix this?" — "Increase the Visibility Timeout of the SQS Queue. It must be
longer than the Lambda's execution time."

The clock runs at ×10: the 40 simulated seconds take four real ones. All waits
are `expect(...)` on what the pages show; simulated time does the rest.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser

# Two 40 s runs started 30 s apart end 70 simulated seconds (7 s at ×10) after the send.
SLOW = 20_000


def test_message_outliving_its_visibility_timeout_is_processed_twice_until_timeout_is_raised(
    workspace_page, screenshot
):
    ws = workspace_page
    ws.create_queue("MyTaskQueue", visibility_timeout=30)
    ws.create_function("consumer", duration=40, timeout=60)

    # AWS refuses the trigger outright: the queue would hide a message for less
    # than the function may run.
    page = ws.page
    for select, value in (("#trigger_queue", "MyTaskQueue"), ("#trigger_function", "consumer")):
        expect(page.locator(f'{select} option[value="{value}"]')).to_be_attached(timeout=LIVE)
        page.select_option(select, value)
    page.fill("#trigger_batch_size", "1")
    page.click("#add-trigger-form button[type=submit]")
    expect(page.locator("#trigger_queue_error")).to_contain_text(
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    )
    screenshot(page, "trigger-refused")

    # It checks only then: a trigger made with 60 s, and the timeout lowered to 30
    # afterwards, is how the lesson's double processing happens.
    sqs = ws.sqs()
    queue_url = sqs.get_queue_url(QueueName="MyTaskQueue")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "60"})
    ws.add_trigger("MyTaskQueue", "consumer", batch_size=1)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "30"})
    ws.set_speed("10")

    function_page = ws.open("functions/consumer/")
    expect(function_page.locator("#clock-speed")).to_have_text("×10")
    lines = function_page.locator("ol[id^=log-] li[id^=log-line-]")
    invocations = function_page.locator("tr[id^=invocation-]")

    first = sqs.send_message(QueueUrl=queue_url, MessageBody="Order #1")["MessageId"]

    # 30 s in, the first run is still busy, the message is visible again and the
    # trigger hands it to a second run: two runs, one message.
    expect(lines.filter(has_text="Processing message: Order #1")).to_have_count(2, timeout=SLOW)
    expect(invocations).to_have_count(2)

    timeline = ws.open(f"messages/{first}/")
    expect(timeline.locator("li.tl.tl-deleted").first).to_be_visible(timeout=SLOW)
    kinds = timeline.locator("li.tl").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    received = [i for i, k in enumerate(kinds) if k == "message.received"]
    assert len(received) == 2, kinds
    assert "message.visible" in kinds[received[0] + 1 : received[1]], kinds
    expect(timeline.locator("li.tl.tl-visible")).to_contain_text("Visibility timeout expired")
    expect(timeline.locator("li.tl.tl-received").nth(1)).to_contain_text("receive #2")
    running = function_page.locator("tr[id^=invocation-][data-status=running]")
    expect(running).to_have_count(0, timeout=SLOW)
    screenshot(function_page, "twice-log")
    screenshot(timeline, "twice-timeline")

    # The fix: a visibility timeout longer than the function runs.
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "120"})
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"
    ] == {"VisibilityTimeout": "120"}
    second = sqs.send_message(QueueUrl=queue_url, MessageBody="Order #2")["MessageId"]

    fixed = ws.open(f"messages/{second}/")
    expect(fixed.locator("li.tl.tl-deleted")).to_have_count(1, timeout=SLOW)
    expect(fixed.locator("li.tl.tl-received")).to_have_count(1)
    expect(fixed.locator("li.tl.tl-visible")).to_have_count(0)
    expect(lines.filter(has_text="Processing message: Order #2")).to_have_count(1, timeout=LIVE)
    expect(invocations).to_have_count(3, timeout=LIVE)
    expect(running).to_have_count(0, timeout=LIVE)
    expect(lines.filter(has_text="Processing message: Order #2")).to_have_count(1)
    screenshot(function_page, "fixed-log")
    screenshot(fixed, "fixed-timeline")
