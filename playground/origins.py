"""Websockets only from this server's own pages.

With ALLOWED_HOSTS at its default `*`, Channels' AllowedHostsOriginValidator lets
any Origin through, so a page on any site that a visitor opens could open the
visitor's workspace socket with the visitor's cookie and read it live. A browser
always sends Origin on a websocket: it must name the host the browser connected
to. A client without an Origin (a script, the tests) sends no cookie it did not
choose to, so it is let through to the session check as before.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier


class SameOriginOnly:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", ()))
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if origin and (not host or _netloc(origin) != host):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def _netloc(origin: str) -> str | None:
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:
        return None
