"""The clock ticker: wakes what simulated time makes due.

A Celery beat schedule cannot tick fast enough for a clock at ×100, so one small
process (`manage.py tick`) calls `tick_once()` every few wall milliseconds. Each
workspace is looked at with its own clock; a paused clock makes nothing due.
"""

from __future__ import annotations

import logging

from django.db import close_old_connections

from broker import clock as clocks
from broker import sqs
from broker.models import Workspace

log = logging.getLogger(__name__)


def tick_once() -> int:
    """One pass over every workspace; returns how many things it woke."""
    close_old_connections()
    woke = 0
    for workspace in Workspace.objects.filter(paused=False):
        clock = clocks.for_workspace(workspace)
        woke += sqs.announce_returns(workspace, clock=clock)
    return woke
