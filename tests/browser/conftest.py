"""Playwright against the live playground: Debian's Chromium, one context per test.

The live stack (`live_server_url`, tests/conftest.py) is real Daphne, a Celery
worker and the ticker on a loopback port; a test reaches it only as a learner
does, through the browser, and as a producer does, through boto3.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import Page, expect

# Playwright's sync API runs an event loop in this thread; Django would refuse
# any ORM call made from it (playwright-pytest issue #29). This conftest only.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]

# Waits for what the live socket pushes: generous, since a loaded machine may
# take a moment, yet far under the test's own length.
LIVE = 10_000


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A projector-sized window: the pipeline's four lanes side by side."""
    return {**browser_context_args, "viewport": {"width": 1440, "height": 1000}}


@pytest.fixture(autouse=True)
def csp_violations(context):
    """Every browser test also checks that the page runs under its Content-Security-
    Policy: Chromium reports each refused script, style or socket on the console. (A
    test that provokes one takes the list and empties it.)"""
    refused: list[str] = []

    def note(message) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    def watch(page: Page) -> None:
        page.on("console", note)

    context.on("page", watch)
    yield refused
    assert refused == []


@pytest.fixture
def screenshot(request):
    """Save a full-page screenshot as test-artifacts/browser/<test>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test = request.node.originalname.removeprefix("test_")

    def save(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{test}-{name}.png"
        # caret="initial": hiding the caret injects a <style>, which the pages' CSP refuses.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    return save


@dataclass
class Workspace:
    """The learner's workspace as the browser shows it."""

    page: Page
    url: str
    endpoint: str
    region: str
    account: str
    access_key: str
    secret: str

    def sqs(self):
        """A boto3 SQS client built from the credentials the page shows."""
        return self.client("sqs")

    def client(self, service: str, **options):
        """A boto3 client of `service` built from the credentials the page shows."""
        return boto3.client(
            service,
            **options,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret,
        )

    def open(self, path: str = "") -> Page:
        """Another tab of the same browser (same session), live socket connected."""
        page = self.page.context.new_page()
        go_live(page, self.url + path)
        return page

    # --- the workspace page's forms ------------------------------------------

    def create_queue(
        self,
        name: str,
        *,
        visibility_timeout: int | None = None,
        fifo: bool = False,
        content_based_deduplication: bool = False,
    ) -> None:
        page = self.page
        page.fill("#queue_name", name)
        if visibility_timeout is not None:
            page.fill("#queue_visibility_timeout", str(visibility_timeout))
        if fifo:
            page.check("#create-queue-form input[name=queue_type][value=fifo]")
        if content_based_deduplication:
            page.check("#queue_content_based_deduplication")
        page.click("#create-queue-form button[type=submit]")
        expect(page.locator("#create-queue-form .note")).to_have_text(f"Queue {name} is ready.")
        expect(page.locator(f'article.queue[data-queue="{name}"]')).to_be_visible(timeout=LIVE)

    def create_function(
        self,
        name: str,
        *,
        duration: float,
        timeout: int,
        fail_when_body_contains: str = "",
        report_failed_records: bool = False,
        database: str = "",
    ) -> None:
        page = self.page
        page.fill("#function_name", name)
        page.fill("#function_duration", str(duration))
        page.fill("#function_timeout", str(timeout))
        page.fill("#function_fail_when_body_contains", fail_when_body_contains)
        if report_failed_records:
            page.check("#function_report_failed_records")
        if database:
            # The choice arrives over the live socket once the database exists.
            option = page.locator(f'#function_database option[value="{database}"]')
            expect(option).to_be_attached(timeout=LIVE)
            page.select_option("#function_database", database)
        page.click("#create-function-form button[type=submit]")
        expect(page.locator("#create-function-form .note")).to_have_text(
            f"Function {name} is ready."
        )

    def add_trigger(
        self, queue: str, function: str, *, batch_size: int, report_batch_item_failures=False
    ) -> None:
        page = self.page
        # The choices arrive over the live socket once the queue and function exist.
        for select, value in (("#trigger_queue", queue), ("#trigger_function", function)):
            expect(page.locator(f'{select} option[value="{value}"]')).to_be_attached(timeout=LIVE)
            page.select_option(select, value)
        page.fill("#trigger_batch_size", str(batch_size))
        if report_batch_item_failures:
            page.check("#trigger_report_batch_item_failures")
        expect(page.locator("#trigger_enabled")).to_be_checked()
        page.click("#add-trigger-form button[type=submit]")
        expect(page.locator("#add-trigger-form .note")).to_have_text(
            f"{queue} now triggers {function}."
        )
        expect(page.locator("#triggers tr.trigger")).to_have_count(1, timeout=LIVE)

    def set_speed(self, speed: str) -> None:
        page = self.page
        page.click(f'#clock button.speed[data-speed="{speed}"]')
        expect(page.locator("#clock-speed")).to_have_text(f"×{speed}")


def go_live(page: Page, url: str) -> None:
    """Open a page and wait until its live socket is connected."""
    page.goto(url)
    expect(page.locator("#live-status.on")).to_be_visible(timeout=LIVE)


@pytest.fixture
def workspace_page(page: Page, live_server_url: str) -> Workspace:
    """A fresh visitor presses "Create your workspace"; the page opens, its credentials read."""
    page.goto(live_server_url + "/")
    page.click("#your-workspace")
    page.wait_for_url("**/w/*/")
    expect(page.locator("#live-status.on")).to_be_visible(timeout=LIVE)

    def text(selector: str) -> str:
        return (page.text_content(selector) or "").strip()

    return Workspace(
        page=page,
        url=page.url.rstrip("/") + "/",
        endpoint=text("#cred-endpoint"),
        region=text("#cred-region"),
        account=text("#cred-account"),
        access_key=text("#cred-access-key"),
        secret=text("#cred-secret"),
    )
