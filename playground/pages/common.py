"""What every page shares: rendering a partial, the clock, reading an event's kind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.template.loader import render_to_string

from broker import clock as clocks
from broker import events
from broker.models import Event, Workspace

SPEEDS = [0.25, 1, 10, 100]


@dataclass
class Update:
    html: str
    cursor: int
    pulses: list[dict] = field(default_factory=list)
    more: bool = False


def simtime(value) -> str:
    """Simulated epoch seconds as a wall-style `HH:MM:SS.s` (UTC): the `simtime` filter,
    and the words of a pushed pulse."""
    if value in (None, ""):
        return ""
    moment = dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 100_000}"


def render(name: str, context: dict) -> str:
    """A named partial of `templates/playground/`, as a pushed fragment."""
    return render_to_string(f"playground/{name}", context).strip()


def kind(e: Event) -> events.Kind:
    return events.kind(e.kind)


def clock_context(workspace: Workspace) -> dict:
    return {
        "workspace": workspace,
        "clock": clocks.describe(workspace),
        "clock_now": clocks.for_workspace(workspace).now(),
        "speeds": SPEEDS,
    }


def render_clock(workspace: Workspace) -> str:
    return render("workspace.html#clock", clock_context(workspace))
