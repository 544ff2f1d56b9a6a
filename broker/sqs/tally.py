"""A queue's message counts, kept as it changes so that reading them costs the same at any depth.

Each message is in one of three states, read from its row:

- *held*: hidden after a receive (in flight, until its return is announced);
- *delayed*: hidden and never received;
- *shown*: not hidden (visible, or past retention and not swept yet).

Every write that creates, deletes, hides or shows messages calls `record` with
the states of the rows it touched before and after, in the same transaction, and
a `QueueTally` row with the difference is inserted. The states must come from
rows the writer holds locked (or from the rowcounts of conditional statements):
a state read earlier may have been changed by someone else, who records it too.
Insert-only rows let writers to one queue commit without waiting on a shared
counter; `fold` (the ticker, once a wall second) sums each queue's rows into one.

`counts` turns the sums into AWS's three counters, correcting for hidden
messages whose time has come but whose return the ticker has not announced yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q

from broker import statements
from broker.models import Message, Queue, QueueTally

State = tuple[bool, bool]  # (hidden, received at least once)


def state(m: Message) -> State:
    return m.hidden, m.receive_count > 0


def shown(n: int) -> list[State]:
    """`n` visible, never-received messages: what a bulk fill or a move stores."""
    return [(False, False)] * n


@dataclass(frozen=True)
class Totals:
    messages: int = 0
    held: int = 0
    delayed: int = 0


def _sums(states: Iterable[State]) -> Totals:
    messages = held = delayed = 0
    for hidden, received in states:
        messages += 1
        held += hidden and received
        delayed += hidden and not received
    return Totals(messages, held, delayed)


def record(queue_id: int, *, before: Iterable[State] = (), after: Iterable[State] = ()) -> None:
    """Record that rows in the `before` states became rows in the `after` states.

    A new message has no `before`, a deleted one no `after`.
    """
    old, new = _sums(before), _sums(after)
    change = Totals(new.messages - old.messages, new.held - old.held, new.delayed - old.delayed)
    if change != Totals():
        statements.insert(
            [
                QueueTally(
                    queue_id=queue_id,
                    messages=change.messages,
                    held=change.held,
                    delayed=change.delayed,
                )
            ]
        )


# Every receive reads it (the in-flight limit): plain SQL, not compiled per call.
_TOTALS_SQL = (
    'SELECT SUM("messages"), SUM("held"), SUM("delayed") '
    f'FROM "{QueueTally._meta.db_table}" WHERE "queue_id" = %s'
)


def totals(queue_id: int) -> Totals:
    """The queue's messages, held and delayed, as recorded (one statement: one snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS_SQL, [queue_id])
        messages, held, delayed = cursor.fetchone()
    return Totals(messages or 0, held or 0, delayed or 0)


def fold() -> int:
    """Sum each queue's tally rows into one; returns how many rows went.

    For every queue, paused clock or not: writes go on while a clock is paused.
    """
    busy = (
        QueueTally.objects.values("queue_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("queue_id", flat=True)
    )
    removed = 0
    for queue_id in list(busy):
        removed += _fold(queue_id)
    return removed


@transaction.atomic
def _fold(queue_id: int) -> int:
    qs = QueueTally.objects.filter(queue_id=queue_id)
    if connection.features.has_select_for_update_skip_locked:
        # A row being inserted is not committed yet and not seen; one being folded
        # by another ticker is skipped: the sum over all rows stays the same.
        qs = qs.select_for_update(skip_locked=True)
    rows = list(qs.values_list("pk", "messages", "held", "delayed"))
    if len(rows) < 2:
        return 0
    QueueTally.objects.filter(pk__in=[r[0] for r in rows]).delete()
    QueueTally.objects.create(
        queue_id=queue_id,
        messages=sum(r[1] for r in rows),
        held=sum(r[2] for r in rows),
        delayed=sum(r[3] for r in rows),
    )
    return len(rows) - 1


@dataclass(frozen=True)
class Counts:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def counts(queue: Queue, *, now: float) -> Counts:
    """Visible / in flight / delayed: the queue's tally, less what has come due since.

    A hidden message stays counted as held or delayed until the ticker announces
    its return; the ones whose `visible_at` has passed are counted back from the
    (queue, visible_at) index of hidden rows. So the cost is the tally's few rows
    plus the returns not announced yet, never the queue's depth.
    """
    t = totals(queue.pk)
    due = Message.objects.filter(queue=queue, hidden=True, visible_at__lte=now).aggregate(
        held=Count("pk", filter=Q(receive_count__gt=0)),
        delayed=Count("pk", filter=Q(receive_count=0)),
    )
    in_flight, delayed = t.held - due["held"], t.delayed - due["delayed"]
    return Counts(visible=t.messages - in_flight - delayed, in_flight=in_flight, delayed=delayed)
