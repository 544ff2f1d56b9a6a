"""The seed note's FIFO lesson: groups in order, an in-flight head blocking its lane,
a duplicate absorbed by the 5-minute deduplication window."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser


def test_fifo_groups_show_as_lanes_and_an_in_flight_head_blocks_its_lane(
    workspace_page, screenshot
):
    ws = workspace_page
    ws.create_queue(
        "orders.fifo", fifo=True, content_based_deduplication=True, visibility_timeout=600
    )
    page = ws.open("queues/orders.fifo/")

    sqs = ws.sqs()
    url = sqs.get_queue_url(QueueName="orders.fifo")["QueueUrl"]
    for group, bodies in (
        ("customer-A", ["A: order 1", "A: order 2", "A: order 3"]),
        ("customer-B", ["B: order 1", "B: order 2"]),
    ):
        for body in bodies:
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)

    lane_a = page.locator('li.lane[data-group="customer-A"]')
    lane_b = page.locator('li.lane[data-group="customer-B"]')
    expect(lane_a.locator("li.lane-message")).to_have_count(3, timeout=LIVE)
    expect(lane_b.locator("li.lane-message")).to_have_count(2, timeout=LIVE)
    expect(lane_a.locator("li.lane-message a")).to_have_text(
        ["A: order 1", "A: order 2", "A: order 3"]
    )

    # The console receives one message: the head of the first group.
    page.fill("#id_max_number", "1")
    page.click("#poll-button")
    expect(page.locator("#received li.received")).to_have_count(1)
    expect(page.locator("#received pre.body")).to_have_text("A: order 1")
    expect(lane_a).to_have_class("lane blocked", timeout=LIVE)
    expect(lane_a.locator(".badge").first).to_have_text("blocked")
    expect(lane_a.locator("li.lane-message").first).to_have_attribute("data-state", "in_flight")

    # The next receive skips the whole blocked lane and takes B's head.
    page.click("#poll-button")
    expect(page.locator("#received pre.body")).to_have_text("B: order 1")
    expect(lane_b).to_have_class("lane blocked", timeout=LIVE)

    # Sending A's first body again within 5 minutes: absorbed, not enqueued.
    page.fill("#id_body", "A: order 1")
    page.fill("#id_group_id", "customer-A")
    page.click("#send-button")
    expect(page.locator("#sent-note")).to_contain_text("Duplicate absorbed")
    expect(lane_a.locator("li.lane-message")).to_have_count(3)
    screenshot(page, "lanes")

    # Deleting B's head frees lane B; A stays blocked behind its own in-flight head.
    page.locator("#received button.delete-message").click()
    expect(lane_b).to_have_class("lane", timeout=LIVE)
    page.fill("#id_max_number", "10")
    page.click("#poll-button")
    expect(page.locator("#received pre.body")).to_have_text(["B: order 2"])


def test_fifo_queue_name_without_the_suffix_is_refused_next_to_the_name(workspace_page, screenshot):
    page = workspace_page.page
    page.fill("#queue_name", "orders")
    page.check("#create-queue-form input[name=queue_type][value=fifo]")
    page.click("#create-queue-form button[type=submit]")
    error = page.locator("#create-queue-form .field:has(#queue_name) .errorlist")
    expect(error).to_contain_text("must end with .fifo suffix")
    # Nothing was lost: the learner fixes the name and keeps the rest.
    expect(page.locator("#create-queue-form input[name=queue_type][value=fifo]")).to_be_checked()
    screenshot(page, "form")
