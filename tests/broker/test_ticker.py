"""The ticker looks only at workspaces with work due, and wakes that work on time."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from broker import clock as clocks
from broker import events, sqs, wakeup, workspaces
from broker.models import Event, Workspace
from broker.ticker import Ticker
from tests.factories import make_function, make_mapping, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def workspace_at(speed: float) -> Workspace:
    workspace = workspaces.create_workspace()
    clocks.set_speed(workspace, speed)
    return Workspace.objects.get(pk=workspace.pk)


def settle(ticker: Ticker) -> None:
    """Let the events committed so far reach the ticker, and let it reckon them."""
    events.flush()
    ticker.tick_once()


def queries_in_a_pass(ticker: Ticker) -> int:
    ticker.last_sweep = time.monotonic()  # no once-a-second tidying in the measured pass
    with CaptureQueriesContext(connection) as captured:
        ticker.tick_once()
    return len(captured.captured_queries)


def tick_until(ticker: Ticker, condition, *, timeout: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        ticker.tick_once()
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not reached within {timeout} s")


def test_a_pass_costs_the_same_with_200_more_idle_workspaces():
    ticker = Ticker()
    busy = workspace_at(100)
    queue = make_queue(busy, clock=clocks.for_workspace(busy))
    sqs.send_message(queue, body="waits a day", clock=clocks.for_workspace(busy))
    settle(ticker)
    before = queries_in_a_pass(ticker)

    for i in range(200):
        idle = workspaces.create_workspace()
        clock = clocks.for_workspace(idle)
        sqs.send_message(make_queue(idle, f"idle-{i}", clock=clock), body="untouched", clock=clock)
    settle(ticker)  # each is reckoned once, after its events: nothing is due for a day

    assert queries_in_a_pass(ticker) == before


def test_a_message_is_announced_visible_when_its_visibility_timeout_ends():
    ticker = Ticker()
    workspace = workspace_at(100)
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)
    sqs.send_message(queue, body="hello", clock=clock)
    [received] = sqs.receive_messages(queue, visibility=30, clock=clock)  # 0.3 wall seconds
    settle(ticker)

    tick_until(ticker, lambda: Event.objects.filter(kind="message.visible").exists())
    event = Event.objects.get(kind="message.visible")
    assert (event.message_id, event.data["reason"]) == (received.message_id, "visibility_expired")


def test_a_faster_clock_brings_the_return_forward():
    ticker = Ticker()
    workspace = workspace_at(1)
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)
    sqs.send_message(queue, body="hello", clock=clock)
    sqs.receive_messages(queue, visibility=120, clock=clock)  # two wall minutes at ×1
    settle(ticker)

    clocks.set_speed(workspace, 100)  # now 1.2 wall seconds
    waited = tick_until(ticker, lambda: Event.objects.filter(kind="message.visible").exists())
    assert waited < 5


def test_a_message_reaching_a_trigger_queue_starts_its_poller_before_the_next_pass():
    workspace = workspace_at(1)
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)
    quiet = make_queue(workspace, "NoTrigger", clock=clock)
    make_mapping(queue, make_function(workspace, clock=clock, duration=0.1), clock=clock)
    ticker = Ticker()
    settle(ticker)  # the pass that learns the trigger: nothing to poll yet
    wakes = wakeup.QueueWakes()
    try:
        assert wakes.wait(0.2) == set()  # subscribed; nothing sent

        sqs.send_message(quiet, body="nobody polls me", clock=clock)
        sqs.send_message(queue, body="poll me now", clock=clock)
        woken = set()
        deadline = time.monotonic() + 5
        while queue.pk not in woken and time.monotonic() < deadline:
            woken |= wakes.wait(0.5)
    finally:
        wakes.close()
    assert {queue.pk, quiet.pk} <= woken
    assert ticker.wake_triggers(woken) == 1  # one poll, of the trigger's queue only
    assert ticker.wake_triggers(woken) == 0  # claimed once: the pass will not queue it again


def test_a_paused_workspace_starts_no_poller_on_a_wake():
    workspace = workspace_at(1)
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)
    make_mapping(queue, make_function(workspace, clock=clock, duration=0.1), clock=clock)
    ticker = Ticker()
    settle(ticker)
    sqs.send_message(queue, body="waits for the clock", clock=clock)
    clocks.pause(workspace)
    assert ticker.wake_triggers({queue.pk}) == 0
