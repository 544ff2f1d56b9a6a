"""Did every message get through, once per visibility window? Read off the timeline.

The stored events are the record of what the broker did to each message
(`events.py`), so the delivery guarantees can be checked after the fact, from
outside the code that keeps them: the scale-out check (`bench/scale_out.py`)
runs this against a stack whose workers it killed mid-batch.

- sent: the queue's `message.sent` events;
- lost: a sent message that was neither deleted nor is still in the queue or its
  dead-letter queue (must be none);
- overlaps: a receive that came before the previous receive's visibility window
  had ended, with no visibility change in between (must be none: a message is
  handed to one receiver per window);
- processed: deleted at least once after a receive (what a successful consumer does).

One pass over the queue's events; an audit, not a broker operation, so its cost
grows with the queue's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.models import Event, Message, Queue

_KINDS = ("message.sent", "message.received", "message.deleted", "message.visibility_changed")


@dataclass
class DeliveryReport:
    queue: str
    sent: int = 0
    received: int = 0  # receives in all, redeliveries included
    redelivered: int = 0  # messages received more than once
    processed: int = 0  # deleted after at least one receive
    in_queue: int = 0  # still held by the queue or its DLQ
    lost: list[str] = field(default_factory=list)
    overlaps: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.overlaps

    def as_dict(self) -> dict:
        return {
            "queue": self.queue,
            "ok": self.ok,
            "sent": self.sent,
            "received": self.received,
            "redelivered": self.redelivered,
            "processed": self.processed,
            "in_queue": self.in_queue,
            "lost": len(self.lost),
            "lost_ids": self.lost[:20],
            "overlaps": len(self.overlaps),
            "overlap_examples": self.overlaps[:5],
        }


def delivery_report(queue: Queue) -> DeliveryReport:
    report = DeliveryReport(queue=queue.name)
    sent: set[str] = set()
    deleted: set[str] = set()
    receives: dict[str, int] = {}
    # message id -> (time of the last receive, end of its visibility window)
    window: dict[str, tuple[float, float]] = {}
    rows = (
        Event.objects.filter(workspace_id=queue.workspace_id, queue=queue.name, kind__in=_KINDS)
        .order_by("at", "pk")
        .values_list("kind", "at", "message_id", "data")
        .iterator(chunk_size=5000)
    )
    for kind, at, message_id, data in rows:
        if kind == "message.sent":
            sent.add(message_id)
        elif kind == "message.received":
            receives[message_id] = receives.get(message_id, 0) + 1
            previous = window.get(message_id)
            # The previous window ends at its visible_at; a receive strictly inside it
            # means two receivers held the message at once.
            if previous is not None and at < previous[1] - 1e-6:
                report.overlaps.append(
                    {
                        "message_id": message_id,
                        "received_at": at,
                        "previous_received_at": previous[0],
                        "previous_visible_at": previous[1],
                    }
                )
            window[message_id] = (at, float(data.get("visible_at", at)))
        elif kind == "message.visibility_changed":
            # A consumer moved the window's end itself: start counting from here.
            window.pop(message_id, None)
        elif kind == "message.deleted" and message_id in receives:
            deleted.add(message_id)
    held = _held(queue, sent)
    report.sent = len(sent)
    report.received = sum(receives.values())
    report.redelivered = sum(1 for n in receives.values() if n > 1)
    report.processed = len(deleted & sent)
    report.in_queue = len(held)
    report.lost = sorted(sent - deleted - held)
    return report


def _held(queue: Queue, ids: set[str]) -> set[str]:
    """Which of these message ids the workspace's queues still hold (DLQs included)."""
    found: set[str] = set()
    ordered = sorted(ids)
    for i in range(0, len(ordered), 10_000):
        found.update(
            Message.objects.filter(
                queue__workspace_id=queue.workspace_id, message_id__in=ordered[i : i + 10_000]
            ).values_list("message_id", flat=True)
        )
    return found
