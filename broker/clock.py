"""Simulated time, one clock per workspace.

Every timeout, delay, duration and retention in the broker is counted in simulated
seconds, so a 30 s visibility timeout can be watched in 3 s at ×10. The clock is
stored on the workspace as an anchor pair, so every process (Daphne, the Celery
workers, the ticker) computes the same "now" without talking to each other:

    sim_now = sim_anchor + (wall_now - real_anchor) * speed      (paused: sim_anchor)

Services never read the wall clock: they take a `clock` argument. Tests pass a
`ManualClock` and call `advance()`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.db import transaction

MIN_SPEED = 0.25
MAX_SPEED = 100.0


class Clock:
    """What services need from a clock."""

    def now(self) -> float:
        raise NotImplementedError

    def real_seconds_until(self, sim_instant: float) -> float:
        """Wall seconds until the clock shows `sim_instant` (inf when stopped)."""
        raise NotImplementedError


@dataclass
class WorkspaceClock(Clock):
    speed: float
    paused: bool
    sim_anchor: float
    real_anchor: float

    def now(self) -> float:
        if self.paused:
            return self.sim_anchor
        return self.sim_anchor + (time.time() - self.real_anchor) * self.speed

    def real_seconds_until(self, sim_instant: float) -> float:
        if self.paused:
            return math.inf
        return max(0.0, (sim_instant - self.now()) / self.speed)


@dataclass
class ManualClock(Clock):
    """A clock that moves only when told to: for tests and single-stepping."""

    current: float = 1_700_000_000.0

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds

    def real_seconds_until(self, sim_instant: float) -> float:
        return math.inf if sim_instant > self.current else 0.0


def for_workspace(workspace) -> WorkspaceClock:
    return WorkspaceClock(
        speed=workspace.speed,
        paused=workspace.paused,
        sim_anchor=workspace.sim_anchor,
        real_anchor=workspace.real_anchor,
    )


def start_anchor() -> dict:
    """Anchor fields for a new workspace: simulated time starts at wall time."""
    now = time.time()
    return {"sim_anchor": now, "real_anchor": now, "speed": 1.0, "paused": False}


def _reanchor(workspace, *, speed: float, paused: bool, extra: float = 0.0) -> None:
    now_sim = for_workspace(workspace).now() + extra
    workspace.sim_anchor = now_sim
    workspace.real_anchor = time.time()
    workspace.speed = speed
    workspace.paused = paused
    workspace.save(update_fields=["sim_anchor", "real_anchor", "speed", "paused"])


@transaction.atomic
def set_speed(workspace, speed: float) -> None:
    """Run the workspace clock at `speed` (×0.25 … ×100); records `clock.changed`."""
    from broker import errors, events

    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise errors.InvalidParameterValue(
            f"Clock speed must be between {MIN_SPEED} and {MAX_SPEED:g}."
        )
    _reanchor(workspace, speed=speed, paused=workspace.paused)
    events.record(
        workspace, "clock.changed", data=describe(workspace), clock=for_workspace(workspace)
    )


@transaction.atomic
def pause(workspace) -> None:
    from broker import events

    _reanchor(workspace, speed=workspace.speed, paused=True)
    events.record(
        workspace, "clock.changed", data=describe(workspace), clock=for_workspace(workspace)
    )


@transaction.atomic
def resume(workspace) -> None:
    from broker import events

    _reanchor(workspace, speed=workspace.speed, paused=False)
    events.record(
        workspace, "clock.changed", data=describe(workspace), clock=for_workspace(workspace)
    )


@transaction.atomic
def step(workspace, seconds: float = 1.0) -> None:
    """Move a (usually paused) clock forward by `seconds` simulated seconds."""
    from broker import errors, events

    if not 0 < seconds <= 3600:
        raise errors.InvalidParameterValue("A step must be between 0 and 3600 seconds.")
    _reanchor(workspace, speed=workspace.speed, paused=workspace.paused, extra=seconds)
    events.record(
        workspace, "clock.changed", data=describe(workspace), clock=for_workspace(workspace)
    )


def describe(workspace) -> dict:
    """JSON-safe clock state a browser needs to run its own display of sim time."""
    return {
        "speed": workspace.speed,
        "paused": workspace.paused,
        "sim_anchor": workspace.sim_anchor,
        "real_anchor": workspace.real_anchor,
    }
