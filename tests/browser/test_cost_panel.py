"""The cost of a run: 30 orders through a trigger with batch size 10. The panel bills
the SQS requests and the three invocations at list prices, and sets them beside
what batch size 1 would have cost; Reset starts a new run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, LIVE

pytestmark = pytest.mark.browser

SLOW = 20_000


def test_the_cost_panel_shows_what_batching_saves(workspace_page, screenshot):
    ws = workspace_page
    page = ws.page
    ws.create_queue("OrdersQueue", visibility_timeout=30)
    ws.create_function("consumer", duration=2, timeout=10)
    ws.add_trigger("OrdersQueue", "consumer", batch_size=10)
    panel = page.locator("#cost-panel")
    expect(panel).to_contain_text("Nothing billed yet in this run")

    sqs = ws.sqs()
    url = sqs.get_queue_url(QueueName="OrdersQueue")["QueueUrl"]
    for start in (0, 10, 20):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"order {i}"} for i in range(start, start + 10)],
        )

    saving = page.locator("#batching-saving")
    expect(saving).to_contain_text("30 records in 3 invocations", timeout=SLOW)
    expect(saving).to_contain_text("10 a batch on average, 2 s each")
    lambda_requests = panel.locator('tr[data-line="lambda_requests"]')
    expect(lambda_requests).to_have_attribute("data-quantity", "3")
    expect(lambda_requests.locator(".unit-price")).to_have_text("$0.20 per million requests")
    expect(panel.locator('tr[data-line="lambda_mb_ms"] td').nth(1)).to_contain_text(
        "0.75 GB-seconds"  # 3 × 2 s × 128 MB
    )
    expect(panel.locator('tr[data-line="sqs_requests"]')).to_be_visible()
    batching = page.locator("#cost-batching")
    expect(batching.locator("tr", has_text="Lambda requests").locator("td")).to_have_text(
        ["Lambda requests", "3", "30"]
    )
    expect(batching.locator("tr", has_text="Lambda GB-seconds").locator("td")).to_have_text(
        ["Lambda GB-seconds", "0.75", "7.5"]
    )

    card = page.locator(".cost-card")
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(ARTIFACTS / "cost_panel-card.png"), caret="initial")
    screenshot(page, "workspace")

    page.click("#cost-reset")
    expect(panel).to_contain_text("Nothing billed yet in this run", timeout=LIVE)
    expect(page.locator("#cost-batching")).to_have_text(
        "No trigger has finished a batch in this run yet."
    )
