"""The clock ticker: wakes what simulated time makes due, and looks at nothing else.

A Celery beat schedule cannot tick fast enough for a clock at ×100, so one small
process (`manage.py tick`) calls `tick_once()` every few wall milliseconds. Each
workspace is looked at with its own clock; a paused clock makes nothing due.

A pass touches only the workspaces with work due, so an idle workspace costs
nothing, however many there are:

- SQS's timed work (a message whose visibility timeout or delay ends, a message past
  its queue's retention) has a due time per workspace, reckoned from the indexes of
  its queues and turned into wall time by its clock; the ticker keeps those in a
  heap. A workspace is reckoned again after every pass that looked at it, and
  whenever its events were committed (`wakeup.take_touched`): a send, a receive, a
  clock change or a new retention period can each bring its due time forward.
  When due, its returns are announced (`message.visible`) and its expired messages
  deleted; FIFO deduplication ids older than five minutes are forgotten, once a
  wall second, in the workspaces looked at (lookups already ignore them).
- Lambda and redrive work is found by two indexed look-ups a pass: workspaces with
  an enabled trigger or a running invocation queue `finish_invocation` for
  invocations whose `ends_at` has come and `poll_mapping` for triggers with spare
  concurrency whose queue has a visible message; running redrive tasks advance.
  Between passes a message reaching a trigger's queue wakes its poller at once
  (`wake_triggers`, fed by `wakeup.QueueWakes`), as it wakes a long poll.
  Each is queued once: `lambdas.claim_*` marks the row with a conditional UPDATE.
- SNS deliveries waiting for a retry are found the same way (workspaces with a
  `Delivery` row), and `attempt_delivery` is queued for each one due; so are
  producers (workspaces with an enabled one), and `run_producer` for each one due.

Once a wall second it also folds every queue's tally rows; once a wall hour it deletes
the browsers' workspaces nobody has used for days (`workspaces.expire_unused`). When it starts it reckons
every workspace that has a queue once, and again after it could not read the marks
(some may have been lost); a workspace whose work fails is tried again a second later.
"""

from __future__ import annotations

import heapq
import logging
import math
import time

from django.db import close_old_connections

from broker import clock as clocks
from broker import lambdas, sqs, tasks, wakeup, workspaces
from broker.models import (
    Delivery,
    EventSourceMapping,
    Invocation,
    Message,
    MoveTask,
    Producer,
    Queue,
    Workspace,
)
from broker.pipeline import producers
from broker.sns import deliveries
from broker.sqs import fifo, redrive, retention, tally

log = logging.getLogger(__name__)

SWEEP_EVERY = 1.0  # wall seconds between tally folds and deduplication sweeps
RETRY_AFTER = 1.0  # wall seconds before a workspace whose work failed is tried again
EXPIRE_EVERY = 3600.0  # wall seconds between deletions of unused workspaces


def next_due(workspace, *, clock) -> float | None:
    """The simulated instant of the workspace's next SQS timed work, or None.

    Two index probes per queue: its first hidden message (`message_queue_hidden`)
    and its oldest message (`message_queue_sent`), whatever the queue's depth.
    """
    instants = []
    for queue in Queue.objects.filter(workspace=workspace):
        hidden = (
            Message.objects.filter(queue=queue, hidden=True)
            .order_by("visible_at")
            .values_list("visible_at", flat=True)
            .first()
        )
        oldest = (
            Message.objects.filter(queue=queue)
            .order_by("sent_at")
            .values_list("sent_at", flat=True)
            .first()
        )
        if hidden is not None:
            instants.append(hidden)
        if oldest is not None:
            instants.append(oldest + queue.message_retention_period)
    return min(instants, default=None)


class Ticker:
    """The ticker's memory between passes: when each workspace has work due next."""

    def __init__(self):
        self.heap: list[tuple[float, int]] = []  # (wall time, workspace id)
        self.due_at: dict[int, float] = {}  # the entry of each workspace that counts
        self.started = False  # every workspace with a queue reckoned once
        self.last_sweep = 0.0
        self.last_expiry = -math.inf
        self.trigger_queues: dict[int, int] = {}  # queue id -> workspace id, as of the last pass

    def _push(self, pk: int, wall: float) -> None:
        if abs(self.due_at.get(pk, -math.inf) - wall) < 0.001:
            return  # the same reckoning again: one entry is enough
        self.due_at[pk] = wall
        heapq.heappush(self.heap, (wall, pk))
        if len(self.heap) > 4 * len(self.due_at) + 1024:  # drop the entries that no longer count
            self.heap = [(w, p) for p, w in self.due_at.items()]
            heapq.heapify(self.heap)

    def _schedule(self, workspace) -> None:
        clock = clocks.for_workspace(workspace)
        instant = None if workspace.paused else next_due(workspace, clock=clock)
        wait = math.inf if instant is None else clock.real_seconds_until(instant)
        if math.isinf(wait):
            self.due_at.pop(workspace.pk, None)
            return
        self._push(workspace.pk, time.time() + wait)

    def _pop_due(self, now: float) -> set[int]:
        due = set()
        while self.heap and self.heap[0][0] <= now:
            wall, pk = heapq.heappop(self.heap)
            if self.due_at.get(pk) == wall:  # a later reckoning replaced older entries
                del self.due_at[pk]
                due.add(pk)
        return due

    def _changed(self) -> set[int]:
        """The workspaces to reckon again: those marked touched; all of them with a queue
        at the start, and again after the marks could not be read (some may be lost)."""
        touched = wakeup.take_touched()
        if touched is None:
            self.started = False
            return set()
        if not self.started:
            touched |= set(Queue.objects.values_list("workspace_id", flat=True).distinct())
            self.started = True
        return touched

    def tick_once(self) -> int:
        """One pass over the workspaces with work due; returns how many things it woke.

        A workspace whose work fails (a locked database, a broker that is down) is tried
        again RETRY_AFTER wall seconds later: no due work is forgotten."""
        close_old_connections()
        if time.monotonic() - self.last_expiry >= EXPIRE_EVERY:
            self.last_expiry = time.monotonic()
            try:
                workspaces.expire_unused()
            except Exception:
                log.exception("the ticker could not expire unused workspaces")
        woke = 0
        touched = self._changed()
        due = self._pop_due(time.time())
        pending, done = touched | due, set()
        try:
            # Two indexed look-ups spare the Lambda checks in workspaces without functions.
            self.trigger_queues = dict(
                EventSourceMapping.objects.filter(enabled=True).values_list(
                    "queue_id", "workspace_id"
                )
            )
            busy = set(self.trigger_queues.values()) | set(
                Invocation.objects.filter(status=Invocation.Status.RUNNING).values_list(
                    "workspace_id", flat=True
                )
            )
            moving = set(
                MoveTask.objects.filter(status=MoveTask.Status.RUNNING).values_list(
                    "workspace_id", flat=True
                )
            )
            retrying = set(Delivery.objects.values_list("workspace_id", flat=True).distinct())
            producing = set(
                Producer.objects.filter(enabled=True).values_list("workspace_id", flat=True)
            )
            sweep = time.monotonic() - self.last_sweep >= SWEEP_EVERY
            if sweep:
                self.last_sweep = time.monotonic()
                tally.fold()
            visited = list(
                Workspace.objects.filter(pk__in=pending | busy | moving | retrying | producing)
            )
            done |= pending - {w.pk for w in visited}  # deleted since
            for workspace in visited:
                try:
                    woke += self._visit(
                        workspace,
                        reckon=workspace.pk in pending,
                        expire=sweep or workspace.pk in due,
                        sweep=sweep,
                        moving=workspace.pk in moving,
                        busy=workspace.pk in busy,
                        retrying=workspace.pk in retrying,
                        producing=workspace.pk in producing,
                    )
                    done.add(workspace.pk)
                except Exception:
                    log.exception("the ticker could not wake workspace %s", workspace.pk)
        finally:
            for pk in pending - done:
                self._push(pk, time.time() + RETRY_AFTER)
        return woke

    def wake_triggers(self, queue_pks: set[int]) -> int:
        """Start the pollers of the triggers on queues a message just reached, ahead of
        the next pass (`wakeup.QueueWakes`); returns how many polls were queued."""
        wanted = {self.trigger_queues[pk] for pk in queue_pks if pk in self.trigger_queues}
        if not wanted:
            return 0
        close_old_connections()
        woke = 0
        for workspace in Workspace.objects.filter(pk__in=wanted, paused=False):
            try:
                woke += wake_polls(workspace, clock=clocks.for_workspace(workspace))
            except Exception:  # the next pass tries again
                log.exception(
                    "the ticker could not wake the triggers of workspace %s", workspace.pk
                )
        return woke

    def _visit(self, workspace, *, reckon, expire, sweep, moving, busy, retrying, producing) -> int:
        woke = 0
        if workspace.paused:
            self.due_at.pop(workspace.pk, None)  # resuming is a clock change: touched
            return 0
        clock = clocks.for_workspace(workspace)
        if reckon:
            woke += sqs.announce_returns(workspace, clock=clock)
            if expire:
                woke += retention.expire_messages(workspace, clock=clock)
            if sweep:
                fifo.forget_expired(workspace, now=clock.now())
        if moving:
            woke += redrive.advance_move_tasks(workspace, clock=clock)
        if busy:
            woke += wake_functions(workspace, clock=clock)
        if retrying:
            woke += wake_deliveries(workspace, clock=clock)
        if producing:
            woke += wake_producers(workspace, clock=clock)
        if reckon:
            self._schedule(workspace)
        return woke


_ticker = Ticker()


def tick_once() -> int:
    """One pass of this process's ticker (`manage.py tick` calls it 20 times a second)."""
    return _ticker.tick_once()


def wake_triggers(queue_pks: set[int]) -> int:
    """This process's ticker, told that messages reached these queues."""
    return _ticker.wake_triggers(queue_pks)


def wake_functions(workspace, *, clock) -> int:
    """Queue the finishes and polls that are due in one workspace.

    No enclosing transaction: each claim is its own short UPDATE (on SQLite a
    write lock held for the whole pass would stall the workers), and
    `delay_on_commit` then sends the task right after that claim commits.
    """
    finishes = lambdas.claim_due_finishes(workspace, clock=clock, wall_now=time.time())
    for pk in finishes:
        tasks.finish_invocation.delay_on_commit(pk)
    return len(finishes) + wake_polls(workspace, clock=clock)


def wake_polls(workspace, *, clock) -> int:
    """Queue a poll of each trigger of the workspace that has messages and room."""
    polls = lambdas.claim_due_polls(workspace, clock=clock, wall_now=time.time())
    for pk in polls:
        tasks.poll_mapping.delay_on_commit(pk)
    return len(polls)


def wake_deliveries(workspace, *, clock) -> int:
    """Queue the SNS delivery attempts that are due in one workspace (each claimed once)."""
    due = deliveries.claim_due(workspace, clock=clock)
    for pk in due:
        tasks.attempt_delivery.delay_on_commit(pk)
    return len(due)


def wake_producers(workspace, *, clock) -> int:
    """Queue a run of each producer of the workspace whose next request is due."""
    due = producers.claim_due(workspace, clock=clock, wall_now=time.time())
    for pk in due:
        tasks.run_producer.delay_on_commit(pk)
    return len(due)


def release_claims(*, before: float) -> int:
    """Forget every step marked queued before wall time `before`; how many were.

    A Celery worker calls this when it starts (`playground/celery.py`). The worker
    it replaces may have been killed outright: the steps it held are then neither
    finished nor back in Redis (their unacknowledged messages return after an hour),
    and their marks would stand until they go stale, REQUEST_STALE_AFTER wall
    seconds later. Cleared, they are queued again by the next pass. A step that was
    in fact still queued, or running on another worker, then runs twice, and the
    second run finds it claimed or done in the database: the price of a stall
    bounded by the restart.
    """
    return sum(
        model.objects.filter(**{f"{field}__lt": before}).update(**{field: None})
        for model, field in (
            (EventSourceMapping, "poll_requested_at"),
            (Invocation, "finish_requested_at"),
            (Producer, "run_requested_at"),
            (Delivery, "requested_at"),
        )
    )
