"""The playground's pages and their live fragments: one module per page.

A page says what it shows (`Page`: the workspace canvas, one queue, one message,
one function, one topic, one inbox). Each page's module builds its context (for its view and its pushes
alike), its `snapshot` (every live fragment, sent when a socket connects) and its
`changes` (the fragments that new events change). The fragments are rendered from
the *same* named partials the page itself renders, so the browser swaps them by id
(htmx ws extension); rows of a stream (API feed, timeline, log) are appended with
`hx-swap-oob`. The stored events are the truth: a dropped frame is repaired by the
next one, a reconnect by the snapshot.

Sync code: the consumer runs it under `database_sync_to_async`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from broker import clock as clocks
from broker import selectors
from playground.pages import function, inbox, message, queue, topic, workspace
from playground.pages.common import Update, render_clock

# How many new events one render looks at; more are picked up by the next render.
EVENTS_PER_RENDER = 2000

PAGES = {
    "workspace": workspace,
    "queue": queue,
    "message": message,
    "function": function,
    "topic": topic,
    "inbox": inbox,
}


@dataclass(frozen=True)
class Page:
    kind: str  # a key of PAGES
    key: str = ""  # the queue's or function's name, the message's id


def parse_page(query_string: bytes | str) -> Page:
    """`?page=queue:MyTaskQueue` → Page("queue", "MyTaskQueue")."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    raw = (parse_qs(query_string).get("page") or ["workspace"])[0]
    kind, _, key = raw.partition(":")
    if kind not in PAGES:
        kind, key = "workspace", ""
    return Page(kind, key)


def page_param(kind: str, key: str = "") -> str:
    return f"{kind}:{key}" if key else kind


def snapshot(workspace_id: int, page: Page) -> tuple[str, int]:
    """Every live fragment of the page, and the event id it is current up to."""
    ws = selectors.workspace_by_id(workspace_id)
    cursor = selectors.last_event_id(ws)
    now = clocks.for_workspace(ws).now()
    parts = [render_clock(ws), *PAGES[page.kind].snapshot(ws, page.key, now=now)]
    return "\n".join(parts), cursor


def changes(workspace_id: int, page: Page, cursor: int) -> Update:
    """The fragments that the events after `cursor` change on this page."""
    ws = selectors.workspace_by_id(workspace_id)
    new = selectors.events_after(workspace_id, cursor, limit=EVENTS_PER_RENDER)
    if not new:
        return Update("", cursor)
    update = Update("", new[-1].pk, more=len(new) >= EVENTS_PER_RENDER)
    now = clocks.for_workspace(ws).now()
    parts: list[str] = []
    if any(e.kind == "clock.changed" for e in new):
        parts.append(render_clock(ws))
    parts.extend(PAGES[page.kind].changes(ws, page.key, new, now=now, update=update))
    update.html = "\n".join(p for p in parts if p)
    return update


def pulses_frame(pulses: list[dict]) -> str:
    return json.dumps({"pulses": pulses})


def server_now() -> float:
    return time.time()
