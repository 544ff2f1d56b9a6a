"""ASGI entry point: HTTP (UI + the AWS endpoint) and the workspace websocket.

AWS API calls skip Django's request handler and middleware (`broker/api/asgi.py`):
sessions, CSRF and the rest are for browsers, in an async server each sync middleware
costs a hop through Django's single sync thread — which would serialise every SDK
request — and the handler itself cost a call more CPU than its INSERTs.
"""

from __future__ import annotations

import os
import re

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from broker.api.asgi import app as aws_app  # noqa: E402
from broker.api.lambda_rest import PATH_PREFIXES as LAMBDA_PATH_PREFIXES  # noqa: E402
from broker.api.urls import QUEUE_URL_PATH  # noqa: E402
from playground import refusals  # noqa: E402
from playground.origins import SameOriginOnly  # noqa: E402
from playground.routing import websocket_urlpatterns  # noqa: E402

refusals.install()
# The paths SDKs send SQS and KMS requests to: the server root and queue URLs.
AWS_PATH = re.compile(r"^/$|^/" + QUEUE_URL_PATH.removeprefix("^"))


def is_aws_scope(scope) -> bool:
    """An SDK or CLI request: SigV4-signed, or a JSON target or a query Action sent to
    the endpoint's own paths. A browser URL with `?Action=` in it is still a page."""
    headers = dict(scope.get("headers", ()))
    if headers.get(b"authorization", b"").startswith(b"AWS4-"):
        return True
    if scope.get("path", "").startswith(LAMBDA_PATH_PREFIXES):
        return True  # no page lives there: an unsigned call gets Lambda's error
    marked = b"x-amz-target" in headers or b"Action=" in scope.get("query_string", b"")
    return marked and bool(AWS_PATH.match(scope.get("path", "")))


async def http_app(scope, receive, send):
    app = aws_app if is_aws_scope(scope) else django_asgi_app
    await app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        # Same origin first: Channels' validator raises on an Origin it cannot parse.
        "websocket": SameOriginOnly(
            AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
