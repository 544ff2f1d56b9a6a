"""Domain events: the only door through which a state change becomes visible.

`record()` writes an `Event` row inside the caller's transaction — that row *is*
the message timeline, the function log and the API feed — and registers a
publish for after the commit. The push to the workspace's channel-layer group is
a hint (the layer is at-most-once and bounded); the stored rows are the truth, and
a page that reconnects re-renders from them.
"""

from __future__ import annotations

import json
import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from broker.models import Event

log = logging.getLogger(__name__)

# A batch of 10 sends publishes one frame, not ten; the consumer coalesces further.
MAX_EVENTS_PER_FRAME = 50


def group_name(workspace_id: int) -> str:
    """The channel-layer group of a workspace (the only place the name is built)."""
    return f"workspace.{workspace_id}"


def record(
    workspace,
    kind: str,
    *,
    clock,
    queue: str = "",
    message_id: str = "",
    function: str = "",
    data: dict | None = None,
) -> Event:
    """Store one event and publish it after commit."""
    return record_many(
        workspace,
        [{"kind": kind, "queue": queue, "message_id": message_id, "function": function,
          "data": data or {}}],
        clock=clock,
    )[0]


def record_many(workspace, entries: list[dict], *, clock) -> list[Event]:
    """Store several events in one INSERT and publish them as one frame after commit.

    Each entry is a dict with `kind` and optional `queue`, `message_id`,
    `function`, `data`.
    """
    at = clock.now()
    rows = [
        Event(
            workspace=workspace,
            kind=e["kind"],
            at=e.get("at", at),
            queue=e.get("queue", ""),
            message_id=e.get("message_id", ""),
            function=e.get("function", ""),
            data=e.get("data") or {},
        )
        for e in entries
    ]
    created = Event.objects.bulk_create(rows)
    summary = [summarize(e) for e in created[:MAX_EVENTS_PER_FRAME]]
    transaction.on_commit(
        partial(publish, workspace.pk, summary, len(created)), robust=True
    )
    return created


def summarize(event: Event) -> dict:
    """The small JSON-safe description of an event that travels on the layer."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "queue": event.queue,
        "message_id": event.message_id,
        "function": event.function,
    }


def publish(workspace_id: int, summary: list[dict], total: int) -> None:
    """Send one frame for a committed batch of events to the workspace group."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "broker.events", "events": summary, "total": total}
    # Round-trip through JSON so an unserialisable event fails here, loudly.
    json.dumps(message)
    async_to_sync(layer.group_send)(group_name(workspace_id), message)
