"""Workspaces nobody uses expire; a used one, or a local-convention account, stays."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broker import clock as clocks
from broker import sqs, workspaces
from broker.models import Message, Queue, Workspace
from broker.ticker import Ticker
from tests.factories import make_queue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def nothing_marked_yet():
    workspaces._marked.clear()
    yield
    workspaces._marked.clear()


def unused_for(workspace: Workspace, days: float) -> None:
    Workspace.objects.filter(pk=workspace.pk).update(
        last_used=timezone.now() - datetime.timedelta(days=days)
    )


def test_a_workspace_unused_for_a_week_is_deleted_with_everything_in_it():
    workspace = workspaces.create_workspace()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, "orders", clock=clock)
    sqs.send_message(queue, body="left behind", clock=clock)
    unused_for(workspace, 7.5)

    assert workspaces.expire_unused() == 1
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not Queue.objects.filter(pk=queue.pk).exists()
    assert not Message.objects.filter(queue_id=queue.pk).exists()


def test_a_workspace_used_within_the_week_and_a_local_account_are_kept():
    recent = workspaces.create_workspace()
    unused_for(recent, 6.9)
    local = workspaces.local_workspace("000000000000")
    unused_for(local, 300)

    assert workspaces.expire_unused() == 0
    assert Workspace.objects.filter(pk__in=[recent.pk, local.pk]).count() == 2


def test_an_account_expires_with_all_its_regions_once_none_is_used():
    home = workspaces.create_workspace()
    west = workspaces.region_workspace(home, "us-west-1")
    assert (west.account_id, west.access_key_id) == (home.account_id, home.access_key_id)
    unused_for(home, 30)
    unused_for(west, 1)  # the browser works in us-west-1 now: its home stays
    assert workspaces.expire_unused() == 0
    assert Workspace.objects.filter(account_id=home.account_id).count() == 2

    unused_for(west, 8)
    assert workspaces.expire_unused() == 2
    assert not Workspace.objects.filter(account_id=home.account_id).exists()


def test_using_a_workspace_again_postpones_its_expiry():
    workspace = workspaces.create_workspace()
    unused_for(workspace, 8)
    workspaces.mark_used(Workspace.objects.get(pk=workspace.pk))
    assert workspaces.expire_unused() == 0


def test_a_busy_workspace_is_marked_used_once_per_interval_not_per_call():
    workspace = workspaces.create_workspace()
    with CaptureQueriesContext(connection) as captured:
        for _ in range(100):
            workspaces.mark_used(workspace)
    assert len(captured.captured_queries) == 1


def test_an_expiry_of_zero_days_keeps_every_workspace(settings):
    settings.PLAYGROUND_WORKSPACE_EXPIRY_DAYS = 0
    workspace = workspaces.create_workspace()
    unused_for(workspace, 1000)
    assert workspaces.expire_unused() == 0


@pytest.mark.django_db(transaction=True)
def test_the_ticker_deletes_unused_workspaces_on_its_first_pass_and_then_hourly():
    workspace = workspaces.create_workspace()
    unused_for(workspace, 30)
    ticker = Ticker()
    ticker.tick_once()
    assert not Workspace.objects.filter(pk=workspace.pk).exists()

    another = workspaces.create_workspace()
    unused_for(another, 30)
    ticker.tick_once()  # within the hour: not looked at again yet
    assert Workspace.objects.filter(pk=another.pk).exists()
