"""An inbox's page: what an HTTP/S request inbox, an email address or a phone received,
with each envelope's signature checked as a subscriber would check it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from broker import events, selectors
from broker.models import Event, Inbox, InboxMessage, Workspace
from broker.sns import envelopes
from playground.pages.common import Update, render


@dataclass(frozen=True)
class Received:
    message: InboxMessage
    envelope: dict | None  # the JSON envelope, when the body is one
    verified: bool | None  # its signature checks out; None: nothing signed

    @property
    def pretty(self) -> str:
        return json.dumps(self.envelope, indent=2) if self.envelope else self.message.body


def received(message: InboxMessage) -> Received:
    try:
        envelope = json.loads(message.body)
    except (ValueError, RecursionError):
        envelope = None
    if not isinstance(envelope, dict) or "Type" not in envelope:
        return Received(message, None, None)
    signed = "Signature" in envelope
    return Received(message, envelope, envelopes.verifies(envelope) if signed else None)


def split_key(key: str) -> tuple[str, str]:
    """The page key `http:orders-hook` → ("http", "orders-hook")."""
    kind, _, address = key.partition(":")
    return kind, address


def context(workspace: Workspace, box: Inbox) -> dict:
    return {
        "workspace": workspace,
        "inbox": box,
        "modes": Inbox.Mode.choices,
        "received": [received(m) for m in selectors.inbox_messages(box)] if box.pk else [],
    }


def _messages(workspace: Workspace, box: Inbox) -> str:
    return render("inbox.html#inbox-messages", context(workspace, box))


def snapshot(workspace: Workspace, key: str, *, now: float) -> list[str]:
    box = selectors.inbox(workspace, *split_key(key))
    return [] if box is None else [_messages(workspace, box)]


def changes(workspace: Workspace, key: str, new: list[Event], *, now: float, update: Update):
    mine = [e for e in new if e.subject == events.subject("inbox", key)]
    box = selectors.inbox(workspace, *split_key(key)) if mine else None
    if box is None:
        return []
    parts = [_messages(workspace, box)]
    if any(e.kind == "inbox.updated" for e in mine):
        parts.append(render("inbox.html#inbox-settings", context(workspace, box)))
    return parts
