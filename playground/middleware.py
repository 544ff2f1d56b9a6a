"""WhiteNoise without forcing every request through a thread.

WhiteNoise's middleware is sync-only; in an async stack Django would then run
every request — each AWS API call included — through a sync adapter thread. This
wrapper is async and only hands requests under STATIC_URL to WhiteNoise.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware:
    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        if not iscoroutinefunction(get_response):
            raise TypeError("StaticFilesMiddleware needs an async middleware chain")
        self.get_response = get_response
        self.whitenoise = WhiteNoiseMiddleware(get_response=None)
        self.prefix = settings.STATIC_URL
        markcoroutinefunction(self)

    def _serve(self, request):
        wn = self.whitenoise
        path = request.path_info
        static_file = wn.find_file(path) if wn.autorefresh else wn.files.get(path)
        return None if static_file is None else wn.serve(static_file, request)

    async def __call__(self, request):
        if request.path_info.startswith(self.prefix):
            response = await sync_to_async(self._serve, thread_sensitive=False)(request)
            if response is not None:
                return response
        return await self.get_response(request)
