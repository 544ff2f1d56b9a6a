from __future__ import annotations

import pytest
from django.test import Client

from broker import clock as clocks
from broker.models import Workspace


@pytest.fixture
def visitor(db) -> Client:
    """A browser that has pressed "Create your workspace" (so it owns one)."""
    client = Client()
    client.post("/w/")
    return client


@pytest.fixture
def own_workspace(visitor) -> Workspace:
    return Workspace.objects.get(pk=visitor.session["workspace_id"])


@pytest.fixture
def ws_clock(own_workspace):
    return clocks.for_workspace(own_workspace)
