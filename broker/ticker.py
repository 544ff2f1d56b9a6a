"""The clock ticker: wakes what simulated time makes due.

A Celery beat schedule cannot tick fast enough for a clock at ×100, so one small
process (`manage.py tick`) calls `tick_once()` every few wall milliseconds. Each
workspace is looked at with its own clock; a paused clock makes nothing due.

Once a wall second it folds every queue's tally rows. Per workspace: announce
messages whose visibility or delay ended, expire messages past their queue's
retention and forget FIFO deduplication ids older than five minutes (once a
wall second), advance running redrive tasks, queue
`finish_invocation` for invocations whose `ends_at` has come, and queue
`poll_mapping` for enabled mappings with spare concurrency whose queue has a
visible message (so a send is picked up on the next pass). Each is queued once:
`lambdas.claim_*` marks the row with a conditional UPDATE before queueing.
"""

from __future__ import annotations

import logging
import time

from django.db import close_old_connections

from broker import clock as clocks
from broker import lambdas, sqs, tasks
from broker.models import EventSourceMapping, Invocation, MoveTask, Workspace
from broker.sqs import fifo, redrive, retention, tally

log = logging.getLogger(__name__)


SWEEP_EVERY = 1.0  # wall seconds between retention / deduplication sweeps
_last_sweep = 0.0


def tick_once() -> int:
    """One pass over every workspace; returns how many things it woke."""
    global _last_sweep
    close_old_connections()
    woke = 0
    # Two indexed look-ups spare the Lambda checks in workspaces without functions at work.
    busy = set(
        EventSourceMapping.objects.filter(enabled=True).values_list("workspace_id", flat=True)
    ) | set(
        Invocation.objects.filter(status=Invocation.Status.RUNNING).values_list(
            "workspace_id", flat=True
        )
    )
    moving = set(
        MoveTask.objects.filter(status=MoveTask.Status.RUNNING).values_list(
            "workspace_id", flat=True
        )
    )
    # Tidying, not timing: receivers already skip what it removes.
    sweep = time.monotonic() - _last_sweep >= SWEEP_EVERY
    if sweep:
        _last_sweep = time.monotonic()
    if sweep:
        tally.fold()
    for workspace in Workspace.objects.filter(paused=False):
        clock = clocks.for_workspace(workspace)
        woke += sqs.announce_returns(workspace, clock=clock)
        if workspace.pk in moving:
            woke += redrive.advance_move_tasks(workspace, clock=clock)
        if sweep:
            woke += retention.expire_messages(workspace, clock=clock)
            fifo.forget_expired(workspace, now=clock.now())
        if workspace.pk in busy:
            woke += wake_functions(workspace, clock=clock)
    return woke


def wake_functions(workspace, *, clock) -> int:
    """Queue the finishes and polls that are due in one workspace.

    No enclosing transaction: each claim is its own short UPDATE (on SQLite a
    write lock held for the whole pass would stall the workers), and
    `delay_on_commit` then sends the task right after that claim commits.
    """
    wall_now = time.time()
    finishes = lambdas.claim_due_finishes(workspace, clock=clock, wall_now=wall_now)
    for pk in finishes:
        tasks.finish_invocation.delay_on_commit(pk)
    polls = lambdas.claim_due_polls(workspace, clock=clock, wall_now=wall_now)
    for pk in polls:
        tasks.poll_mapping.delay_on_commit(pk)
    return len(finishes) + len(polls)
