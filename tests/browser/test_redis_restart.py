"""An open page stays true when Redis restarts under it: `make run`'s own redis-server is
killed, the playground restarts it, and what boto3 does next still reaches the page
(a lost push is caught up from the event log)."""

from __future__ import annotations

import os
import signal

import boto3
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE, go_live
from tests.playground.test_play_supervisor import child_running, running_play, wait_until

pytestmark = pytest.mark.browser


def test_an_open_queue_page_shows_what_happens_after_redis_restarted(page):
    with running_play(own_redis=True) as play:
        sqs = boto3.client(
            "sqs",
            endpoint_url=play.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        page.goto(play.url + "/")
        shared = page.locator("a[href^='/w/']").first.get_attribute("href")
        go_live(page, play.url + shared + "queues/orders/")
        sqs.send_message(QueueUrl=url, MessageBody="before the restart")
        expect(page.get_by_text("before the restart")).to_be_visible(timeout=LIVE)

        killed = child_running(play, "redis-server")
        os.kill(killed, signal.SIGKILL)
        # The socket drops with Redis and reconnects once it is back: then the page says
        # "live" again, and the next push must still arrive.
        expect(page.locator("#live-status.on")).to_have_count(0, timeout=LIVE)
        wait_until(lambda: child_running(play, "redis-server") not in (None, killed), timeout=30)
        expect(page.locator("#live-status.on")).to_be_visible(timeout=LIVE)
        page.wait_for_timeout(1000)  # the server's publisher has sat idle since the restart
        sqs.send_message(QueueUrl=url, MessageBody="after the restart")

        expect(page.get_by_text("after the restart")).to_be_visible(timeout=LIVE)
        expect(page.locator("#live-status.on")).to_be_visible(timeout=LIVE)
