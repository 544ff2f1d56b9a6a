"""The AWS endpoint's own ASGI application: an SDK call without Django's request handler.

An SDK call needs nothing of what Django's ASGI handler does for each request — the
request signals, a thread-sensitive context that starts and stops a thread of its own,
URL resolution, the middleware hooks — and in a SendMessage those cost more CPU than
the message's INSERT. This app reads the body, routes by path and answers with the
view's response; a path it does not know (the developer peek, an unknown path) still
goes through Django with `broker/api/urls.py`.
"""

from __future__ import annotations

import re
from collections import defaultdict

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

from broker.api import lambda_rest, views
from broker.api.urls import QUEUE_URL_PATH

QUEUE_URL = re.compile("/" + QUEUE_URL_PATH.removeprefix("^"))
# Kept of a body: more than any protocol accepts, so the view still sees it is too long.
MAX_KEPT_BODY = views.MAX_REST_BODY_BYTES + 4096


class Incoming:
    """The parts of an HTTP request that `views._Request` reads, made from an ASGI scope
    as Django's ASGIRequest makes them (the same META names and values)."""

    def __init__(self, scope, body: bytes):
        self.scope = scope
        self.method = scope["method"].upper()
        self.path = scope["path"]
        self.scheme = scope.get("scheme") or "http"
        query_string = scope.get("query_string", b"")
        if isinstance(query_string, bytes):
            query_string = query_string.decode()
        server = scope.get("server") or ("unknown", "0")
        meta = {
            "REQUEST_METHOD": self.method,
            "QUERY_STRING": query_string,
            "PATH_INFO": self.path,
            "SERVER_NAME": server[0],
            "SERVER_PORT": str(server[1]),
        }
        headers = defaultdict(list)
        for name, value in scope.get("headers", ()):
            name = name.decode("latin1")
            if "_" in name:  # as Django: no spoofing by `_` for `-`
                continue
            if name in ("content-length", "content-type"):
                key = name.upper().replace("-", "_")
            else:
                key = "HTTP_" + name.upper().replace("-", "_")
            headers[key].append(value.decode("latin1"))
        meta.update((key, ",".join(values)) for key, values in headers.items())
        self.META = meta
        self.body = body
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        start = self._read
        end = len(self.body) if size is None or size < 0 else start + size
        self._read = min(end, len(self.body))
        return self.body[start:end]


class DjangoOnly(ASGIHandler):
    """Django's ASGI handler with no middleware, for the endpoint paths this app does not
    answer itself."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        get_response = self._get_response_async if is_async else self._get_response
        self._middleware_chain = convert_exception_to_response(get_response)

    def resolve_request(self, request):
        request.urlconf = "broker.api.urls"
        return super().resolve_request(request)


_django = DjangoOnly()


async def _read_body(receive) -> bytes | None:
    """The whole body (at most MAX_KEPT_BODY bytes of it); None if the client left."""
    chunks, kept = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if kept < MAX_KEPT_BODY:
            chunks.append(chunk[: MAX_KEPT_BODY - kept])
            kept += len(chunks[-1])
        if not message.get("more_body", False):
            return b"".join(chunks)


async def app(scope, receive, send):
    path = scope["path"]
    if path == "/":
        answer = views.endpoint
    elif path.startswith(lambda_rest.PATH_PREFIXES):
        answer = views.rest_endpoint
    elif QUEUE_URL.fullmatch(path):
        answer = views.queue_url_endpoint
    else:
        await _django(scope, receive, send)
        return
    body = await _read_body(receive)
    if body is None:
        return
    response = await answer(Incoming(scope, body))
    content = response.content
    headers = [(name.encode("latin1"), value.encode("latin1")) for name, value in response.items()]
    headers.append((b"Content-Length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": content})
