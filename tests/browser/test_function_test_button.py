"""The function page's Test button, as the Lambda console's: a function whose own
Python code was uploaded with boto3 runs on the event typed in the page, and its
answer, error and log show up live."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.broker.api.test_lambda_api import ROLE, zipped
from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser

CHECKOUT = """
def handler(event, context):
    print("checking out", event)
    if event.get("poison"):
        raise ValueError("the order is poison")
    return {"status": "paid", "order": event["order"]}
"""


def test_the_test_button_runs_the_functions_code_and_shows_its_answer(workspace_page, screenshot):
    ws = workspace_page
    ws.client("lambda").create_function(
        FunctionName="checkout",
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zipped(CHECKOUT)},
    )
    page = ws.open("functions/checkout/")
    rows = page.locator("tr[id^=invocation-]")
    event = page.locator("#test_event")

    event.fill('{"order": 7}')
    page.click("#function-test-button")
    expect(page.locator("#function-test .note")).to_contain_text("Invoked: request")
    expect(rows.first).to_have_attribute("data-status", "succeeded", timeout=LIVE)
    expect(rows.first.locator("code.returned")).to_have_text('{"status": "paid", "order": 7}')
    log = page.locator("ol[id^=log-]")
    expect(log).to_contain_text("checking out {'order': 7}")
    expect(log).to_contain_text("REPORT RequestId:")

    event.fill('{"poison": true, "order": "<b>8</b>"}')
    page.click("#function-test-button")
    expect(rows.first).to_have_attribute("data-status", "failed", timeout=LIVE)
    expect(rows.first.locator(".error")).to_have_text("ValueError: the order is poison")
    expect(log.locator("li.log-error").first).to_contain_text("[ERROR] ValueError")
    expect(log).to_contain_text("'order': '<b>8</b>'")  # text, never markup
    screenshot(page, "answers")

    event.fill("{not json")
    page.click("#function-test-button")
    expect(page.locator("#test_event_error")).to_contain_text("InvalidRequestContentException")
    expect(rows).to_have_count(2)
    screenshot(page, "refused")

    # Deleted from its own page: back on the workspace, gone from the pipeline.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-function-button")
    expect(page).to_have_url(ws.url, timeout=LIVE)
    expect(page.locator("#create-function-form")).to_be_visible()
    expect(page.get_by_text("λ checkout")).to_have_count(0, timeout=LIVE)
    assert ws.client("lambda").list_functions()["Functions"] == []
