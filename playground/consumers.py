"""The workspace websocket: server → browser only.

`ws/w/<slug>/?page=queue:MyTaskQueue` — the page says what it shows, so only its
fragments are rendered. Order (STYLE §5): check access, join the group, accept,
send the snapshot. Commands never travel on the socket; they are htmx POSTs.

Coalescing: a frame on the group only marks the connection dirty. One render
runs at most every `COALESCE_SECONDS`, reading every event since the last render
from the event log, so a producer at 1,000 msg/s causes ~7 frames a second per
browser, not 1,000.
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


class WorkspaceConsumer(AsyncWebsocketConsumer):
    COALESCE_SECONDS = 0.15
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

    async def broker_events(self, message):
        """A committed batch of events: render soon, together with what follows."""
        self.dirty = True
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self):
        while self.dirty:
            # Let a burst collect: everything in this window becomes one frame.
            await asyncio.sleep(self.COALESCE_SECONDS)
            self.dirty = False
            try:
                update = await database_sync_to_async(pages.changes)(
                    self.workspace_id, self.page, self.cursor
                )
            except Exception:
                log.exception("rendering live fragments failed")
                return
            self.cursor = update.cursor
            if update.html:
                await self.send(text_data=update.html)
            if update.pulses:
                await self.send(text_data=pages.pulses_frame(update.pulses))
            if update.more:
                self.dirty = True
