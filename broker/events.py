"""Domain events: the only door through which a state change becomes visible.

`record()` writes an `Event` row inside the caller's transaction — that row *is*
the message timeline, the function log and the API feed — and registers a
publish for after the commit. The push to the workspace's channel-layer group is
a hint (the layer is at-most-once and bounded); the stored rows are the truth, and
a page that reconnects re-renders from them.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from functools import partial

from channels.layers import get_channel_layer
from django.db import transaction

from broker import costs, statements, wakeup
from broker.models import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """What an event kind is about, declared once (so pages never match on substrings).

    Names read `<subject>.<what happened>`. `structural` kinds change the pipeline's
    nodes or edges, so a canvas redraws it rather than a node.
    """

    name: str
    service: str  # "sqs", "sns", "lambda", "kms", or "playground"
    about: str  # "queue", "message", "move_task", "function", "invocation", "mapping", …
    structural: bool = False


def _declare(*kinds: Kind) -> dict[str, Kind]:
    return {k.name: k for k in kinds}


KINDS = _declare(
    Kind("clock.changed", "playground", "clock"),
    Kind("api.call", "playground", "api"),
    Kind("queue.created", "sqs", "queue", structural=True),
    Kind("queue.updated", "sqs", "queue", structural=True),
    Kind("queue.deleted", "sqs", "queue", structural=True),
    Kind("queue.purged", "sqs", "queue"),
    Kind("message.sent", "sqs", "message"),
    Kind("message.deduplicated", "sqs", "message"),
    Kind("message.received", "sqs", "message"),
    Kind("message.visibility_changed", "sqs", "message"),
    Kind("message.visible", "sqs", "message"),
    Kind("message.deleted", "sqs", "message"),
    Kind("message.expired", "sqs", "message"),
    Kind("message.moved_to_dlq", "sqs", "message"),
    Kind("message.redriven", "sqs", "message"),
    Kind("message.batch_failed", "lambda", "message"),
    Kind("move_task.started", "sqs", "move_task"),
    Kind("move_task.progress", "sqs", "move_task"),
    Kind("move_task.completed", "sqs", "move_task"),
    Kind("move_task.failed", "sqs", "move_task"),
    Kind("move_task.cancelled", "sqs", "move_task"),
    Kind("topic.created", "sns", "topic", structural=True),
    Kind("topic.updated", "sns", "topic"),
    Kind("topic.deleted", "sns", "topic", structural=True),
    Kind("topic.published", "sns", "topic"),
    Kind("topic.deduplicated", "sns", "topic"),
    Kind("subscription.created", "sns", "subscription", structural=True),
    Kind("subscription.updated", "sns", "subscription"),
    Kind("subscription.deleted", "sns", "subscription", structural=True),
    Kind("subscription.delivery_failed", "sns", "subscription"),
    Kind("subscription.filtered_out", "sns", "subscription"),
    Kind("subscription.confirmed", "sns", "subscription", structural=True),
    Kind("subscription.delivered", "sns", "subscription"),  # after a retry
    Kind("subscription.dead_lettered", "sns", "subscription"),
    Kind("subscription.discarded", "sns", "subscription"),
    Kind("inbox.created", "sns", "inbox", structural=True),
    Kind("inbox.received", "sns", "inbox"),
    Kind("inbox.refused", "sns", "inbox"),
    Kind("inbox.updated", "sns", "inbox", structural=True),
    Kind("account.sms_changed", "sns", "account"),
    Kind("account.strictness_changed", "playground", "account"),
    Kind("account.costs_reset", "playground", "account"),
    Kind("function.created", "lambda", "function", structural=True),
    Kind("function.updated", "lambda", "function", structural=True),
    Kind("function.deleted", "lambda", "function", structural=True),
    Kind("function.concurrency_set", "lambda", "function", structural=True),
    Kind("function.logged", "lambda", "function"),
    Kind("invocation.started", "lambda", "invocation"),
    Kind("invocation.throttled", "lambda", "invocation"),
    Kind("invocation.finished", "lambda", "invocation"),
    Kind("mapping.created", "lambda", "mapping", structural=True),
    Kind("mapping.updated", "lambda", "mapping", structural=True),
    Kind("mapping.deleted", "lambda", "mapping", structural=True),
    Kind("mapping.poll_failed", "lambda", "mapping", structural=True),
    Kind("mapping.poll_recovered", "lambda", "mapping", structural=True),
    Kind("mapping.window_opened", "lambda", "mapping"),
    Kind("mapping.scaling_up", "lambda", "mapping"),
    Kind("mapping.scaled_down", "lambda", "mapping"),
    Kind("mapping.filtered_out", "lambda", "mapping"),
    Kind("producer.created", "playground", "producer", structural=True),
    Kind("producer.updated", "playground", "producer", structural=True),
    Kind("producer.started", "playground", "producer", structural=True),
    Kind("producer.stopped", "playground", "producer", structural=True),
    Kind("producer.deleted", "playground", "producer", structural=True),
    Kind("producer.called", "playground", "producer"),
    Kind("producer.request_lost", "playground", "producer"),
    Kind("database.created", "playground", "database", structural=True),
    Kind("database.updated", "playground", "database", structural=True),
    Kind("database.down", "playground", "database", structural=True),
    Kind("database.up", "playground", "database", structural=True),
    Kind("database.deleted", "playground", "database", structural=True),
    Kind("key.created", "kms", "key"),
    Kind("key.enabled", "kms", "key"),
    Kind("key.disabled", "kms", "key"),
    Kind("key.policy_changed", "kms", "key"),
    Kind("key.alias_created", "kms", "key"),
    Kind("key.data_key_generated", "kms", "key"),
    Kind("key.data_key_decrypted", "kms", "key"),
    Kind("account.kms_quota_changed", "kms", "account"),
    Kind("account.kms_opt_in_changed", "kms", "account"),
)


def kind(name: str) -> Kind:
    """The declared kind of a stored event (one of a kind no longer declared is about
    nothing a page shows)."""
    return KINDS.get(name) or Kind(name, "playground", "")


def subject(resource: str, name: str) -> str:
    """An event's generic subject, `<resource>:<name>` (`function:orders`; later
    `topic:alerts`): the resource beside its queue whose page lists the event, so a
    new service needs no column of its own."""
    return f"{resource}:{name}" if name else ""


# A batch of 10 sends publishes one frame, not ten; the consumer coalesces further.
MAX_EVENTS_PER_FRAME = 50
# How long the publisher lets frames gather before it sends them: under load, one frame
# a workspace for many commits; and the long poll a commit woke runs first, not beside it.
COALESCE_SECONDS = 0.005


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
    subject: str = "",
    data: dict | None = None,
) -> Event:
    """Store one event and publish it after commit."""
    return record_many(
        workspace,
        [
            {
                "kind": kind,
                "queue": queue,
                "message_id": message_id,
                "subject": subject,
                "data": data or {},
            }
        ],
        clock=clock,
    )[0]


def record_many(workspace, entries: list[dict], *, clock) -> list[Event]:
    """Store several events in one INSERT and publish them as one frame after commit.

    Each entry is a dict with `kind` (declared in `KINDS`) and optional `queue`,
    `message_id`, `subject`, `data`.
    """
    at = clock.now()
    rows = [
        Event(
            workspace=workspace,
            kind=KINDS[e["kind"]].name,  # a kind nobody declared fails here, at once
            at=e.get("at", at),
            queue=e.get("queue", ""),
            message_id=e.get("message_id", ""),
            subject=e.get("subject", ""),
            data=e.get("data") or {},
        )
        for e in entries
    ]
    created = statements.insert(rows)
    summary = [summarize(e) for e in created[:MAX_EVENTS_PER_FRAME]]
    transaction.on_commit(partial(publish, workspace.pk, summary, len(created)), robust=True)
    return created


def summarize(event: Event) -> dict:
    """The small JSON-safe description of an event that travels on the layer."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "queue": event.queue,
        "message_id": event.message_id,
        "subject": event.subject,
    }


def publish(workspace_id: int, summary: list[dict], total: int) -> None:
    """Hand one committed batch of events to this process's publisher thread.

    Never blocks the caller on the push: an API request or a task must not wait for
    Redis to tell browsers about what it did. The usage counts the transaction made
    are written first (one pipeline, `broker/costs.py`), so a page redrawn for these
    events shows what they cost.
    """
    costs.flush()
    message = {"type": "broker.events", "events": summary, "total": total}
    # Round-trip through JSON so an unserialisable event fails here, loudly.
    json.dumps(message)
    _publisher().submit(group_name(workspace_id), message, workspace_id, wakeup.touched_key())


class _Publisher:
    """A daemon thread with its own event loop that sends frames to the layer.

    Frames waiting for the same group are merged into one, which is what keeps a
    producer at 1,000 msg/s from costing 1,000 Redis round-trips a second. The same
    batch marks its workspaces touched for the ticker (`wakeup.mark_touched`).
    """

    def __init__(self):
        self.pending: dict[str, dict] = {}
        self.touched: dict[str, set[int]] = {}  # touched-set key -> workspace ids
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self._run, name="event-publisher", daemon=True)
        self.thread.start()

    def submit(self, group: str, message: dict, workspace_id: int, touched_key: str) -> None:
        with self.lock:
            self.touched.setdefault(touched_key, set()).add(workspace_id)
            queued = self.pending.get(group)
            if queued is None:
                self.pending[group] = message
            else:
                queued["events"] = (queued["events"] + message["events"])[-MAX_EVENTS_PER_FRAME:]
                queued["total"] += message["total"]
            self.idle.clear()
        self.wake.set()

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until everything submitted so far was sent (for tests and exit)."""
        return self.idle.wait(timeout)

    def _run(self) -> None:
        # A private loop driven from this thread: no executor, so nothing to break
        # when the interpreter shuts down around it.
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        while True:
            self.wake.wait()
            time.sleep(COALESCE_SECONDS)
            self.wake.clear()
            with self.lock:
                batch, self.pending = self.pending, {}
                touched, self.touched = self.touched, {}
            for key, workspace_ids in touched.items():
                wakeup.mark_touched(key, workspace_ids)
            for group, message in batch.items():
                # Twice: the first send after Redis restarted finds a broken connection,
                # which the second replaces. Pages that still miss it catch up from the
                # event log (`WorkspaceConsumer.RESYNC_SECONDS`).
                for attempt in (1, 2):
                    try:
                        if layer is not None:
                            loop.run_until_complete(layer.group_send(group, message))
                        break
                    except Exception:  # a failed push never undoes a committed change
                        if attempt == 2:
                            log.warning("could not publish events to %s", group, exc_info=True)
            with self.lock:
                if not self.pending:
                    self.idle.set()


_instance: _Publisher | None = None
_instance_pid: int | None = None
_instance_lock = threading.Lock()


def _publisher() -> _Publisher:
    """The publisher of this process (a forked Celery child starts its own)."""
    global _instance, _instance_pid
    with _instance_lock:
        if _instance is None or _instance_pid != os.getpid():
            _instance = _Publisher()
            _instance_pid = os.getpid()
            atexit.register(_instance.flush)
        return _instance


def flush(timeout: float = 2.0) -> bool:
    """Block until this process's pending pushes went out (tests, short commands)."""
    return _instance is None or _instance.flush(timeout)
