"""The message page: its state now, and its timeline (kept after deletion)."""

from __future__ import annotations

from broker import selectors
from broker.kms import encryption
from broker.models import Event, Workspace
from playground.pages.common import Update, render


def message_context(workspace: Workspace, message_id: str, *, now: float) -> dict:
    message = selectors.find_message(workspace, message_id)
    state = selectors.message_state(message, now=now) if message else "deleted"
    context = {"workspace": workspace, "message": message, "message_id": message_id, "state": state}
    if message is not None:
        body, attributes, locked = selectors.plaintext(message, encryption.Opener(message.queue))
        context.update(
            body=body, attributes=attributes, locked=locked, at_rest=encryption.describe(message)
        )
    return context


def snapshot(workspace: Workspace, message_id: str, *, now: float) -> list[str]:
    return [
        render("message.html#message-state", message_context(workspace, message_id, now=now)),
        render(
            "message.html#timeline",
            {"workspace": workspace, "timeline": selectors.message_timeline(workspace, message_id)},
        ),
    ]


def changes(workspace: Workspace, message_id: str, new: list[Event], *, now: float, update: Update):
    rows = [e for e in new if e.message_id == message_id]
    if not rows:
        return []
    return [
        render("message.html#message-state", message_context(workspace, message_id, now=now)),
        render("message.html#timeline-append", {"workspace": workspace, "timeline": rows}),
    ]
