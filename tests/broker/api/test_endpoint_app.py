"""The endpoint's own ASGI app (broker/api/asgi.py) reads a request as Django would, and
a failure on a path it leaves to Django is still an AWS error."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

from django.core.handlers.asgi import ASGIRequest

from broker.api import asgi, developer


def _scope(path: str, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict:
    return {
        "type": "http",
        "method": "post",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def test_a_request_reads_as_djangos_asgi_request_reads_it():
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/x-amz-json-1.0"),
        (b"content-length", b"2"),
        (b"x-amz-target", b"AmazonSQS.SendMessage"),
        (b"x-amz-date", b"20261204T000000Z"),
        (b"x-amz_date", b"spoofed"),  # dropped by both: `_` may not stand for `-`
        (b"x-custom", b"one"),
        (b"x-custom", b"two"),
        (b"user-agent", b"Boto3/1.40 caf\xe9"),
    ]
    scope = _scope("/000000000000/orders", headers, b"Action=SendMessage&x=%2F")
    ours = asgi.Incoming(scope, b"{}")
    django = ASGIRequest(scope, BytesIO(b"{}"))

    for name in ours.META:
        assert ours.META[name] == django.META[name], name
    assert {n for n in django.META if n.startswith("HTTP_") or n.startswith("CONTENT_")} == {
        n for n in ours.META if n.startswith("HTTP_") or n.startswith("CONTENT_")
    }
    assert (ours.method, ours.path, ours.scheme) == (django.method, django.path, django.scheme)
    assert ours.read(1) == b"{" and ours.read() == b"}" and ours.read() == b""


def _call(app, scope, body: bytes = b"") -> tuple[int, dict, bytes]:
    sent, messages = [], [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)

    # A thread of its own: Playwright's sync API may leave a loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, app(scope, receive, send)).result()
    start, content = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, content


def test_a_failure_on_a_path_django_answers_is_an_aws_error_not_a_page(monkeypatch):
    def broken(request, path_url):
        raise RuntimeError("a bug")

    monkeypatch.setattr(developer, "_answer", broken)
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", b"AWS4-HMAC-SHA256 x")]
    status, head, body = _call(asgi.app, _scope("/_aws/sqs/messages", headers))

    assert status == 500
    assert head["content-type"] == "application/x-amz-json-1.0"
    assert json.loads(body)["__type"] == "InternalFailure"
    assert b"<html" not in body.lower() and b"a bug" not in body
