"""The seed's database that goes down for five minutes: the function fails while it
is down, the queue holds every message, and once it is back they drain."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser

SLOW = 20_000


def test_the_queue_holds_the_orders_while_the_database_is_down(workspace_page, screenshot):
    ws = workspace_page
    page = ws.page
    page.fill("#database_name", "orders-db")
    page.fill("#database_capacity", "100")
    page.click("#create-database-form button[type=submit]")
    expect(page.locator("#create-database-form .note")).to_have_text("Database orders-db is up.")
    node = page.locator('article.database[data-database="orders-db"]')
    expect(node).to_be_visible(timeout=LIVE)

    ws.create_queue("OrdersQueue", visibility_timeout=10)
    ws.create_function("writer", duration=1, timeout=3, database="orders-db")
    ws.add_trigger("OrdersQueue", "writer", batch_size=10)
    expect(page.locator("path.edge-writes")).to_have_count(1, timeout=LIVE)

    node.locator("button[value=down_for]").click()
    expect(node).to_have_class("node database down", timeout=LIVE)
    expect(node.locator(".database-down")).to_contain_text("Down until")

    sqs = ws.sqs()
    url = sqs.get_queue_url(QueueName="OrdersQueue")["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": f"order {i}"} for i in range(3)],
    )
    function = page.locator("article.function")
    expect(function.locator('[data-count="last"]')).to_have_text("Failed", timeout=SLOW)
    expect(node.locator('[data-count="refused"]')).to_have_text("3", timeout=LIVE)
    queue = page.locator('article.queue[data-queue="OrdersQueue"]')
    held = queue.locator('[data-count="visible"], [data-count="in_flight"]')
    assert sum(int(c) for c in held.all_inner_texts()) == 3  # nothing lost
    screenshot(page, "down")

    # At ×100 the five minutes pass in three wall seconds; the retries then succeed.
    ws.set_speed("100")
    expect(node.locator('[data-count="writes"]')).to_have_text("3", timeout=SLOW)
    expect(node.locator('[data-count="state"]')).to_have_text("up")
    expect(function.locator('[data-count="last"]')).to_have_text("Succeeded")
    expect(queue.locator('[data-count="visible"]')).to_have_text("0")
    expect(queue.locator('[data-count="in_flight"]')).to_have_text("0", timeout=LIVE)
    screenshot(page, "drained")
