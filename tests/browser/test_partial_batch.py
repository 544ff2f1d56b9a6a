"""The seed's partial failure: a batch of 6 in which records 5 and 6 are poison.
Without ReportBatchItemFailures the whole batch comes back and the four good
records are processed again; with it, only the two poison records return. Each
message's timeline says why it will come back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser

SLOW = 20_000
SIX = ["order 1", "order 2", "order 3", "order 4", "poison 5", "poison 6"]


def send_six(ws, queue: str) -> list[str]:
    sqs = ws.sqs()
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    sent = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(SIX)]
    )["Successful"]
    by_id = {entry["Id"]: entry["MessageId"] for entry in sent}
    return [by_id[str(i)] for i in range(6)]


@pytest.mark.parametrize("reports", [False, True], ids=["whole-batch", "report-failures"])
def test_four_of_six_succeed(workspace_page, screenshot, reports):
    ws = workspace_page
    ws.create_queue("OrdersQueue", visibility_timeout=20)
    ws.create_function(
        "consumer",
        duration=2,
        timeout=10,
        fail_when_body_contains="poison",
        report_failed_records=reports,
    )
    ws.add_trigger("OrdersQueue", "consumer", batch_size=6, report_batch_item_failures=reports)
    function_page = ws.open("functions/consumer/")
    ids = send_six(ws, "OrdersQueue")

    first = function_page.locator("tr[id^=invocation-]").last
    expect(first).to_have_attribute(
        "data-status", "succeeded" if reports else "failed", timeout=SLOW
    )
    good, poison = ws.open(f"messages/{ids[0]}/"), ws.open(f"messages/{ids[4]}/")
    if reports:
        expect(good.locator("li.tl-deleted")).to_have_count(1, timeout=LIVE)
        expect(poison.locator("li.tl-batch_failed")).to_contain_text(
            "reported in batchItemFailures by consumer"
        )
        # Only the two poison records come back: nothing is processed twice.
        ws.set_speed("10")
        again = function_page.locator("#processed-again")
        expect(again.locator('[data-count="again"]')).to_have_text("2", timeout=SLOW)
        expect(again.locator('[data-count="redone"]')).to_have_text("0")
    else:
        expect(first.locator(".error")).to_contain_text('record 5 of 6 contains "poison"')
        for page in (good, poison):
            expect(page.locator("li.tl-batch_failed")).to_contain_text(
                'the batch of 6 failed in consumer: Exception: record 5 of 6 contains "poison"'
            )
        # 20 s later the good record is received, and processed, a second time.
        ws.set_speed("10")
        expect(good.locator("li.tl-received")).to_have_count(2, timeout=SLOW)
        expect(good.locator("li.tl-received").nth(1)).to_contain_text("receive #2")
        again = function_page.locator("#processed-again")
        expect(again.locator('[data-count="redone"]')).to_have_text("4", timeout=LIVE)
        expect(again).to_contain_text("4 records processed again after they had succeeded")
    case = "reported" if reports else "whole-batch"
    screenshot(function_page, f"{case}-function")
    screenshot(poison, f"{case}-poison-timeline")
    screenshot(good, f"{case}-good-timeline")
