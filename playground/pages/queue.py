"""The queue page: its card, its messages (a table, or lanes for FIFO groups) and, on a
dead-letter queue, the redrive card."""

from __future__ import annotations

from broker import selectors
from broker.models import Event, Queue, Workspace
from playground.pages.common import Update, kind, render


def messages_context(queue: Queue, *, now: float) -> dict:
    """What the queue page's message panel shows: a table, or lanes for FIFO groups."""
    if queue.is_fifo:
        return {
            "lanes": selectors.fifo_lanes(queue, now=now),
            "group_count": selectors.group_count(queue),
        }
    return {"rows": selectors.message_table(queue, now=now)}


def redrive_context(queue: Queue, form=None) -> dict:
    """The dead-letter queue's redrive card: its form and its newest move tasks."""
    from playground import forms

    destinations = [q.name for q in selectors.redrive_destinations(queue)]
    return {
        "redrive_form": form or forms.RedriveForm(destinations=destinations),
        "move_tasks": selectors.move_tasks(queue),
    }


def _card_and_messages(workspace: Workspace, queue: Queue, *, now: float) -> list[str]:
    return [
        render(
            "workspace.html#queue-card",
            {"workspace": workspace, "o": selectors.queue_overview(queue, now=now)},
        ),
        render(
            "queue.html#messages",
            {"workspace": workspace, "queue": queue, **messages_context(queue, now=now)},
        ),
    ]


def snapshot(workspace: Workspace, name: str, *, now: float) -> list[str]:
    queue = selectors.queue(workspace, name)
    return _card_and_messages(workspace, queue, now=now) if queue is not None else []


def changes(workspace: Workspace, name: str, new: list[Event], *, now: float, update: Update):
    hit = any(
        e.queue == name or e.data.get("dlq") == name or e.data.get("destination") == name
        for e in new
    )
    queue = selectors.queue(workspace, name) if hit else None
    if queue is None:
        return []
    parts = _card_and_messages(workspace, queue, now=now)
    if any(kind(e).about == "move_task" and e.queue == name for e in new):
        # The tasks without the form: a running task's progress must not wipe the
        # destination or rate being typed.
        parts.append(
            render(
                "queue.html#move-tasks",
                {"workspace": workspace, "queue": queue, "move_tasks": selectors.move_tasks(queue)},
            )
        )
    return parts
