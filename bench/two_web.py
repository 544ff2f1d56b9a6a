#!/usr/bin/env python
"""Two web replicas, one playground: a page open on one sees what boto3 does through the other.

Needs the compose stack up with two web replicas (not part of `make test`):

    WEB_PORTS=8000-8001 docker compose up -d --scale web=2
    .venv/bin/python bench/two_web.py http://127.0.0.1:8000 http://127.0.0.1:8001

Opens a fresh workspace in Chromium on the first replica, sends with the
credentials the page shows through the second, and waits for the queue and its
message count to appear live (no reload). Saves a screenshot under
test-artifacts/. Exits 1 if the page does not show them within 10 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import boto3
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]


def main(page_url: str, api_url: str) -> int:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(page_url + "/")
        page.click("#your-workspace")
        page.wait_for_url("**/w/*/")
        expect(page.locator("#live-status.on")).to_be_visible(timeout=10_000)
        creds = {
            k: (page.text_content(f"#cred-{k}") or "").strip()
            for k in ("region", "access-key", "secret")
        }
        sqs = boto3.client(
            "sqs",
            endpoint_url=api_url,
            region_name=creds["region"],
            aws_access_key_id=creds["access-key"],
            aws_secret_access_key=creds["secret"],
        )
        t0 = time.monotonic()
        url = sqs.create_queue(QueueName="seen-across-replicas")["QueueUrl"]
        for i in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"through {api_url} #{i}")
        queue = page.locator('article.queue[data-queue="seen-across-replicas"]')
        expect(queue).to_be_visible(timeout=10_000)
        expect(queue.locator('dd[data-count="visible"]')).to_have_text("3", timeout=10_000)
        seen = time.monotonic() - t0
        out = ROOT / "test-artifacts" / "two-web.png"
        out.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(
        f"page on {page_url} showed the queue and its 3 messages sent through {api_url} "
        f"{seen:.2f} s after the first call; screenshot {out.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(
        main(
            *(
                sys.argv[1:3]
                if len(sys.argv) >= 3
                else ("http://127.0.0.1:8000", "http://127.0.0.1:8001")
            )
        )
    )
