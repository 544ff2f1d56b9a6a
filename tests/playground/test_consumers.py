"""The workspace websocket on the real Redis channel layer."""

from __future__ import annotations

import asyncio
import datetime
import re
import time

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from broker import clock as clocks
from broker import events, sqs, workspaces
from broker.models import Workspace
from playground import pages
from playground.asgi import application
from playground.consumers import WorkspaceConsumer
from tests.factories import make_function, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _visitor() -> tuple[Client, Workspace]:
    client = Client()
    client.post("/w/")
    return client, Workspace.objects.get(pk=client.session["workspace_id"])


def _communicator(client: Client, workspace: Workspace, page: str) -> WebsocketCommunicator:
    cookie = client.cookies["sessionid"].value if "sessionid" in client.cookies else ""
    return WebsocketCommunicator(
        application,
        f"/ws/w/{workspace.slug}/?page={page}",
        headers=[(b"host", b"testserver"), (b"cookie", f"sessionid={cookie}".encode())],
    )


async def _receive_until(communicator, needle: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        frame = await communicator.receive_from(timeout=max(0.01, deadline - time.monotonic()))
        if needle in frame:
            return frame


def _element(html: str, tag: str, element_id: str) -> str:
    match = re.search(rf'<{tag} id="{re.escape(element_id)}".*?</{tag}>', html, re.S)
    assert match, f"no #{element_id} in {html[:500]}"
    return match.group(0)


def test_connect_sends_a_snapshot_then_the_new_count_after_a_send():
    client, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)

    async def scenario():
        communicator = _communicator(client, workspace, "workspace")
        connected, _ = await communicator.connect(timeout=5)
        assert connected is True
        snapshot = await communicator.receive_from(timeout=5)
        assert 'data-count="visible">0<' in _element(snapshot, "article", f"queue-{queue.pk}")

        await database_sync_to_async(sqs.send_message)(queue, body="hello", clock=clock)
        frame = await _receive_until(communicator, f'id="queue-{queue.pk}"')
        assert 'data-count="visible">1<' in _element(frame, "article", f"queue-{queue.pk}")
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_pushed_fragments_match_fresh_page():
    """A page patched with pushed fragments equals a fresh render of that page."""
    client, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)

    async def scenario():
        canvas = _communicator(client, workspace, "workspace")
        assert (await canvas.connect(timeout=5))[0] is True
        await canvas.receive_from(timeout=5)
        sent = await database_sync_to_async(sqs.send_message)(queue, body="<b>hi</b>", clock=clock)
        timeline = _communicator(client, workspace, f"message:{sent.message_id}")
        assert (await timeline.connect(timeout=5))[0] is True
        await timeline.receive_from(timeout=5)

        card_frame = await _receive_until(canvas, f'id="queue-{queue.pk}"')
        fresh_canvas = (await database_sync_to_async(client.get)(f"/w/{workspace.slug}/")).content
        received = await database_sync_to_async(sqs.receive_messages)(
            queue, receiver="console", clock=clock
        )
        row_frame = await _receive_until(timeline, "beforeend:#timeline")
        await canvas.disconnect()
        await timeline.disconnect()
        return sent, received, card_frame, fresh_canvas.decode(), row_frame

    sent, received, card_frame, fresh_canvas, row_frame = async_to_sync(scenario)()
    pushed_card = _element(card_frame, "article", f"queue-{queue.pk}")
    assert 'data-count="visible">1<' in pushed_card
    assert pushed_card == _element(fresh_canvas, "article", f"queue-{queue.pk}")

    fresh_message = client.get(f"/w/{workspace.slug}/messages/{sent.message_id}/").content.decode()
    row_id = re.search(r'<li id="(event-\d+)"', row_frame).group(1)
    assert _element(row_frame, "li", row_id) == _element(fresh_message, "li", row_id)
    assert "Received</strong> by console" in _element(row_frame, "li", row_id)
    assert received


def test_other_sessions_cannot_watch_a_workspace():
    _owner, workspace = _visitor()
    stranger = Client()

    async def scenario():
        communicator = _communicator(stranger, workspace, "workspace")
        connected, _ = await communicator.connect(timeout=5)
        assert connected is False

    async_to_sync(scenario)()


def test_a_burst_of_sends_is_coalesced_into_few_frames():
    client, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)

    def burst():
        for i in range(40):
            sqs.send_message(queue, body=f"message {i}", clock=clock)

    async def scenario():
        communicator = _communicator(client, workspace, "workspace")
        assert (await communicator.connect(timeout=5))[0] is True
        await communicator.receive_from(timeout=5)
        started = time.monotonic()
        await database_sync_to_async(burst)()
        elapsed = time.monotonic() - started
        frames = []
        while not await communicator.receive_nothing(timeout=0.8):
            frames.append(await communicator.receive_from(timeout=1))
        await communicator.disconnect()
        return frames, elapsed

    frames, elapsed = async_to_sync(scenario)()
    html_frames = [f for f in frames if not f.startswith("{")]
    # One render a window at most (plus the one in flight when the burst ends).
    assert len(html_frames) <= elapsed / WorkspaceConsumer.COALESCE_SECONDS + 2
    assert len(html_frames) < 40
    last_card = _element(html_frames[-1], "article", f"queue-{queue.pk}")
    assert 'data-count="visible">40<' in last_card
    assert any('"pulses"' in f for f in frames)


def test_pages_open_on_the_same_view_share_one_render_a_window(monkeypatch):
    client, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)
    renders = []
    render = pages.changes

    def counted(*args):
        renders.append(args[2])  # the cursor it renders from
        return render(*args)

    monkeypatch.setattr(pages, "changes", counted)

    def burst():
        for i in range(30):
            sqs.send_message(queue, body=f"message {i}", clock=clock)
            time.sleep(0.01)

    async def scenario():
        sockets = [_communicator(client, workspace, "workspace") for _ in range(5)]
        for socket in sockets:
            assert (await socket.connect(timeout=5))[0] is True
            await socket.receive_from(timeout=5)  # its snapshot
        await database_sync_to_async(burst)()
        cards = []
        for socket in sockets:
            frame = await _receive_until(socket, 'data-count="visible">30<')
            cards.append(_element(frame, "article", f"queue-{queue.pk}"))
            await socket.disconnect()
        return cards

    cards = async_to_sync(scenario)()
    assert len(set(cards)) == 1  # every page shows the same, final card
    # Five pages, yet about one render a window: the sockets share them.
    windows = len(set(renders))
    assert len(renders) <= windows + 5  # at most one render of its own per socket
    assert len(renders) < 3 * windows


def test_function_log_lines_are_appended_live():
    client, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    function = make_function(workspace, clock=clock)

    def log_line():
        with transaction.atomic():
            events.record(
                workspace,
                "function.logged",
                subject=events.subject("function", function.name),
                data={"request_id": "r-1", "line": "Processing message: <hi>"},
                clock=clock,
            )

    async def scenario():
        communicator = _communicator(client, workspace, f"function:{function.name}")
        assert (await communicator.connect(timeout=5))[0] is True
        snapshot = await communicator.receive_from(timeout=5)
        assert f'id="log-{function.pk}"' in snapshot
        await database_sync_to_async(log_line)()
        frame = await _receive_until(communicator, f"beforeend:#log-{function.pk}")
        await communicator.disconnect()
        return frame

    frame = async_to_sync(scenario)()
    assert "Processing message: &lt;hi&gt;" in frame


def test_the_cost_panel_is_pushed_with_the_work_it_counts_and_matches_a_fresh_page():
    client, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)

    def console_send():
        client.post(
            f"/w/{workspace.slug}/queues/{queue.name}/send/",
            {"body": "x" * (100 * 1024), "delay_seconds": "0"},
        )

    async def scenario():
        canvas = _communicator(client, workspace, "workspace")
        assert (await canvas.connect(timeout=5))[0] is True
        snapshot = await canvas.receive_from(timeout=5)
        assert "Nothing billed yet" in _element(snapshot, "div", "cost-panel")
        await database_sync_to_async(console_send)()
        frame = await _receive_until(canvas, 'id="cost-panel"')
        fresh = (await database_sync_to_async(client.get)(f"/w/{workspace.slug}/")).content
        await canvas.disconnect()
        return frame, fresh.decode()

    frame, fresh = async_to_sync(scenario)()
    pushed = _element(frame, "div", "cost-panel")
    assert 'data-line="sqs_requests" data-quantity="2"' in pushed  # 100 KB: two chunks
    assert pushed == _element(fresh, "div", "cost-panel")


@pytest.mark.parametrize(
    ("origin", "connects"),
    [
        (b"http://testserver", True),
        (None, True),  # a script, not a browser: the session still decides
        (b"https://evil.example", False),
        (b"http://testserver.evil.example", False),
        (b"http://[", False),
    ],
)
def test_a_websocket_opens_only_from_this_servers_pages(origin, connects):
    client, workspace = _visitor()

    async def scenario():
        communicator = _communicator(client, workspace, "workspace")
        if origin is not None:
            communicator.scope["headers"].append((b"origin", origin))
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is connects


def test_a_socket_its_group_forgot_catches_up_from_the_event_log(monkeypatch):
    """Redis restarted and lost the group (here: its key deleted): the next push goes
    nowhere, and the socket still shows the send within one resync."""
    monkeypatch.setattr(WorkspaceConsumer, "RESYNC_SECONDS", 0.3)
    client, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, clock=clock)

    async def scenario():
        communicator = _communicator(client, workspace, "workspace")
        assert (await communicator.connect(timeout=5))[0] is True
        await communicator.receive_from(timeout=5)
        layer = get_channel_layer()
        redis.Redis.from_url(settings.REDIS_URL).delete(
            layer._group_key(events.group_name(workspace.pk))
        )
        await database_sync_to_async(sqs.send_message)(queue, body="hello", clock=clock)
        frame = await _receive_until(communicator, f'id="queue-{queue.pk}"')
        assert 'data-count="visible">1<' in _element(frame, "article", f"queue-{queue.pk}")
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_an_open_page_keeps_its_workspace_from_expiring(monkeypatch):
    monkeypatch.setattr(WorkspaceConsumer, "RESYNC_SECONDS", 0.2)
    client, workspace = _visitor()
    long_ago = timezone.now() - datetime.timedelta(days=30)

    async def scenario():
        communicator = _communicator(client, workspace, "workspace")
        assert (await communicator.connect(timeout=5))[0] is True
        await communicator.receive_from(timeout=5)
        await database_sync_to_async(Workspace.objects.filter(pk=workspace.pk).update)(
            last_used=long_ago
        )
        workspaces._marked.clear()
        await asyncio.sleep(0.6)
        await communicator.disconnect()

    async_to_sync(scenario)()
    assert Workspace.objects.get(pk=workspace.pk).last_used > long_ago
