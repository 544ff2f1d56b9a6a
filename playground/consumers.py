"""The workspace websocket: server → browser only.

`ws/w/<slug>/?page=queue:MyTaskQueue` — the page says what it shows, so only its
fragments are rendered. Order (STYLE §5): check access, join the group, accept,
send the snapshot. Commands never travel on the socket; they are htmx POSTs.

Coalescing: a frame on the group only marks the connection dirty. One render
runs at most once a window of `COALESCE_SECONDS`, reading every event since the
last render from the event log, so a producer at 1,000 msg/s causes at most one
frame a window per browser, not 1,000.

Shared renders: the windows are the same for every socket of the process, and the
sockets that show the same page take one render between them (`_Renders`): thirty
students watching a teacher's pipeline cost one render a window, not thirty.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from broker import events, workspaces
from playground import pages
from playground.views.access import watchable_workspace

log = logging.getLogger(__name__)


class _Renders:
    """The latest render of each (workspace, page) in this process, for one window.

    A socket whose cursor is at or past a render's start takes that render: it holds
    every change after the socket's cursor (and, when it started earlier, some the
    page has already: fragments are swapped by id and rows applied once by id, so
    only their pulses would repeat, and those are left out). Sockets that take the
    same render end at the same cursor, so from the next window on they share.
    """

    def __init__(self):
        self.latest: dict[tuple, tuple[int, int, asyncio.Future]] = {}

    async def changes(self, workspace_id: int, page, cursor: int, window: int):
        key = (workspace_id, page)
        held = self.latest.get(key)
        if held is not None and held[0] == window and held[1] <= cursor:
            update = await asyncio.shield(held[2])
            if update.cursor <= cursor:
                return None  # nothing this socket has not shown
            if held[1] < cursor:
                update = pages.Update(update.html, update.cursor, more=update.more)
            return update
        render = asyncio.ensure_future(
            database_sync_to_async(pages.changes)(workspace_id, page, cursor)
        )
        self.latest[key] = (window, cursor, render)
        # Kept for its window only (the next one renders afresh), then let go.
        loop = asyncio.get_running_loop()
        render.add_done_callback(
            lambda done: loop.call_later(
                WorkspaceConsumer.COALESCE_SECONDS, self._forget, key, done
            )
        )
        return await asyncio.shield(render)

    def _forget(self, key, render) -> None:
        if self.latest.get(key, (None, None, None))[2] is render:
            del self.latest[key]


_renders = _Renders()


class WorkspaceConsumer(AsyncWebsocketConsumer):
    COALESCE_SECONDS = 0.05
    # How often a socket rejoins its group and looks for events it was not sent. A
    # push can be lost (Redis restarted and forgot the group, a publisher's
    # connection broke, a group expired after a day): the page catches up from the
    # event log within this time instead of going stale while it says "live".
    RESYNC_SECONDS = 2.0

    async def connect(self):
        slug = self.scope["url_route"]["kwargs"]["slug"]
        workspace = await database_sync_to_async(watchable_workspace)(
            self.scope.get("session"), slug
        )
        if workspace is None:
            await self.close()
            return
        self.workspace = workspace
        self.workspace_id = workspace.pk
        self.group = events.group_name(workspace.pk)
        self.page = pages.parse_page(self.scope.get("query_string", b""))
        self.dirty = False
        self.flusher: asyncio.Task | None = None
        self.resync: asyncio.Task | None = None
        # Join before reading state, so nothing falls between snapshot and pushes.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        html, self.cursor = await database_sync_to_async(pages.snapshot)(
            self.workspace_id, self.page
        )
        await self.send(text_data=html)
        self.resync = asyncio.create_task(self._resync_loop())

    async def disconnect(self, code):
        for task in (getattr(self, "flusher", None), getattr(self, "resync", None)):
            if task is not None:
                task.cancel()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _resync_loop(self):
        while True:
            await asyncio.sleep(self.RESYNC_SECONDS)
            try:
                await self.channel_layer.group_add(self.group, self.channel_name)
            except Exception:  # Redis is away: the event log still answers
                log.warning("could not rejoin %s", self.group, exc_info=True)
            await self.broker_events({})
            try:  # an open page is a use: a workspace watched for days does not expire
                await database_sync_to_async(workspaces.mark_used)(self.workspace)
            except Exception:
                log.warning("could not mark workspace %s used", self.workspace_id, exc_info=True)

    async def dispatch(self, message):
        # A push only marks the socket dirty, with no database work: not worth the hop
        # to a thread that channels makes before every message to close old database
        # connections (the render's database_sync_to_async closes them itself).
        if message["type"] == "broker.events":
            await self.broker_events(message)
            return
        await super().dispatch(message)

    async def broker_events(self, message):
        """A committed batch of events: render soon, together with what follows."""
        self.dirty = True
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self):
        loop = asyncio.get_running_loop()
        while self.dirty:
            # Let a burst collect until the window ends: one frame for all of it, at
            # the instant every socket of this process renders.
            window = self.COALESCE_SECONDS
            await asyncio.sleep(window - loop.time() % window)
            self.dirty = False
            try:
                update = await _renders.changes(
                    self.workspace_id, self.page, self.cursor, int(loop.time() // window)
                )
            except Exception:
                log.exception("rendering live fragments failed")
                return
            if update is None:
                continue
            self.cursor = update.cursor
            if update.html:
                await self.send(text_data=update.html)
            if update.pulses:
                await self.send(text_data=pages.pulses_frame(update.pulses))
            if update.more:
                self.dirty = True
