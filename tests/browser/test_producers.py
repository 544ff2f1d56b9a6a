"""The seed's direct call against a queue: an API calling a busy function directly
loses requests; an app sending the same traffic to a queue loses none."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser

SLOW = 20_000


def add_producer(page, name: str, target: str, *, rate: str) -> None:
    page.fill("#producer_name", name)
    # The choices arrive over the live socket once the target exists.
    option = page.locator(f'#producer_target option:text-is("{target}")')
    expect(option).to_be_attached(timeout=LIVE)
    page.select_option("#producer_target", option.first.get_attribute("value"))
    page.fill("#producer_rate", rate)
    page.click("#create-producer-form button[type=submit]")
    expect(page.locator("#create-producer-form .note")).to_have_text(f"{name} is calling.")


def test_a_busy_function_loses_direct_calls_and_a_queue_loses_none(workspace_page, screenshot):
    ws = workspace_page
    page = ws.page
    ws.create_queue("OrdersQueue", visibility_timeout=30)
    ws.create_function("checkout", duration=2, timeout=3)
    ws.client("lambda").put_function_concurrency(
        FunctionName="checkout", ReservedConcurrentExecutions=1
    )
    add_producer(page, "api", "checkout", rate="2")
    add_producer(page, "app", "OrdersQueue", rate="2")

    api = page.locator('article.producer[data-producer="api"]')
    app = page.locator('article.producer[data-producer="app"]')
    expect(api).to_contain_text("calls λ checkout directly")
    expect(page.locator("path.edge-send")).to_have_count(3, timeout=LIVE)  # yours, api, app
    ws.set_speed("10")
    expect(api.locator(".producer-error")).to_contain_text(
        "throttled: the function was busy", timeout=SLOW
    )
    expect(api.locator(".producer-error")).to_have_attribute(
        "title", "TooManyRequestsException: Rate Exceeded."
    )
    expect(api.locator('[data-count="answered"], [data-count="sent"]')).not_to_have_text("0")
    queue = page.locator('article.queue[data-queue="OrdersQueue"]')
    expect(queue.locator('[data-count="visible"]')).not_to_have_text("0", timeout=LIVE)
    screenshot(page, "calling")

    for node in (api, app):
        node.locator("button[value=stop]").click()
        expect(node).to_contain_text("stopped", timeout=LIVE)
    # A run already under way when Stop was clicked may still land: its push redraws the
    # node. Once settled, the queue holds every message the app sent.
    sent, visible = app.locator('[data-count="sent"]'), queue.locator('[data-count="visible"]')
    deadline = time.monotonic() + LIVE / 1000
    while sent.inner_text() != visible.inner_text() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert sent.inner_text() == visible.inner_text()
    assert int(api.locator('[data-count="lost"]').inner_text().replace(",", "")) > 0
    assert app.locator('[data-count="lost"]').inner_text() == "0"
    screenshot(page, "stopped")
