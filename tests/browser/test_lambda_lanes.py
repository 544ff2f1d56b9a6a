"""The seed's picture of concurrency: a trigger with a maximum concurrency of 5 and a
batch size of 6 runs five copies of the function, each with its batch of 6, drawn as
lanes on the function page; a direct call over the reservation is throttled."""

from __future__ import annotations

import pytest
from botocore.config import Config
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser


def test_five_copies_each_take_a_batch_of_six(workspace_page, screenshot):
    ws = workspace_page
    ws.create_queue("OrdersQueue", visibility_timeout=60)
    # All 40 wait before the trigger exists, so every batch is a full one of 6.
    sqs = ws.sqs()
    url = sqs.get_queue_url(QueueName="OrdersQueue")["QueueUrl"]
    for start in range(0, 40, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"order {start + i}"} for i in range(10)],
        )
    ws.create_function("consumer", duration=30, timeout=40)
    ws.add_trigger("OrdersQueue", "consumer", batch_size=6)
    function_page = ws.open("functions/consumer/")

    lanes = function_page.locator("ol.lanes li.lane:not(.empty)")
    expect(lanes).to_have_count(5, timeout=LIVE)
    for lane in lanes.all():
        expect(lane.locator("a.chip")).to_have_count(6)
    expect(function_page.locator("#running-count")).to_have_text("5")
    expect(function_page.locator(".trigger-scale")).to_contain_text("up to 5 batches of 6 at once")
    # A chip is the message: it opens its timeline.
    first_chip = lanes.first.locator("a.chip").first
    expect(first_chip).to_have_attribute(
        "href",
        f"/w/{ws.url.rstrip('/').rsplit('/', 1)[-1]}/messages/{first_chip.get_attribute('title')}/",
    )
    screenshot(function_page, "lanes")

    # One attempt: botocore's "max_attempts" counts retries, and a retried 429 would
    # count a second throttle moments after the first.
    lam = ws.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    lam.put_function_concurrency(FunctionName="consumer", ReservedConcurrentExecutions=5)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke(FunctionName="consumer", Payload=b"{}")
    expect(function_page.locator("#throttle-count")).to_have_text("throttled 1×", timeout=LIVE)
    expect(function_page.locator(".concurrency-summary")).to_contain_text("reserved concurrency 5")
    screenshot(function_page, "throttled")
