from __future__ import annotations

import pytest

from broker import workspaces
from broker.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def workspace(db):
    return workspaces.create_workspace()


@pytest.fixture
def relaxed_rules(workspace, clock):
    """The workspace under relaxed rules, as the test-credential accounts start: a topic
    delivers to a queue without a Policy that allows it."""
    workspaces.set_strict(workspace, False, clock=clock)
    return workspace


@pytest.fixture(scope="session")
def live_stack():
    """A live playground (Daphne + Celery worker + ticker), one per run."""
    from tests.live import start_live_stack

    stack = start_live_stack()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def live_server_url(live_stack):
    return live_stack.url
