"""A page's snapshot is current up to an event id read before it is rendered, so a row
committed meanwhile can arrive twice: in the snapshot and in the next push. Rows are
applied once, by their ids, whatever the overlap."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser


def test_a_timeline_row_that_arrives_again_is_shown_once(workspace_page):
    ws = workspace_page
    ws.create_queue("orders")
    sqs = ws.sqs()
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=url, MessageBody="order 1")["MessageId"]
    timeline = ws.open(f"messages/{message_id}/")
    expect(timeline.locator("#timeline li.tl-sent")).to_have_count(1)
    expect(timeline.locator("#live-status")).to_contain_text("live", timeout=LIVE)

    # The overlap, as a snapshot and a push made it: the sent row twice.
    timeline.evaluate(
        "() => { const t = document.getElementById('timeline');"
        " t.appendChild(t.querySelector('li.tl-sent').cloneNode(true)); }"
    )
    expect(timeline.locator("#timeline li.tl-sent")).to_have_count(2)

    sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)  # the next push
    expect(timeline.locator("#timeline li.tl-received")).to_have_count(1, timeout=LIVE)
    expect(timeline.locator("#timeline li.tl-sent")).to_have_count(1)
