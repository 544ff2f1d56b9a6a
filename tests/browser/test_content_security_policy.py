"""The pages run under a Content-Security-Policy that refuses any script not served
from /static/: markup that slipped into a page could not run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser


def test_an_injected_inline_script_is_refused_and_the_live_page_still_works(
    workspace_page, csp_violations
):
    ws = workspace_page
    page = ws.page
    policy = page.request.get(ws.url).headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy

    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.body.append(script);
            }"""
        )
    assert page.evaluate("() => window.injected") is None
    assert any("script-src" in text for text in csp_violations)
    csp_violations.clear()

    # htmx without eval, the socket under connect-src 'self': a queue made with boto3
    # still appears on the open page.
    ws.sqs().create_queue(QueueName="after-the-policy")
    expect(page.locator('article.queue[data-queue="after-the-policy"]')).to_be_visible(timeout=LIVE)
