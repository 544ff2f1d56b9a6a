"""Hand-made signed requests, for what boto3 will not send (raw query, broken bodies)."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def send(
    url: str,
    *,
    method: str = "POST",
    body: bytes | str | dict = b"",
    headers=None,
    key: str = "test",
    secret: str = "test",
    sign: bool = True,
    service: str = "sqs",
    region: str = "us-east-1",
):
    """Returns (status, headers, body text); signed for `service` in `region`."""
    if isinstance(body, dict):
        body = urlencode(body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            **(headers or {}),
        }
    if isinstance(body, str):
        body = body.encode()
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if sign:
        SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(
        prepared.url,
        data=prepared.body or None,
        method=method,
        headers=dict(prepared.headers.items()),
    )
    try:
        with urllib.request.urlopen(raw, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def query(url: str, params: dict, **kwargs):
    return send(url, body={"Version": "2012-11-05", **params}, **kwargs)


def json_call(url: str, action: str, body: bytes | str, **kwargs):
    return send(
        url,
        body=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AmazonSQS.{action}",
        },
        **kwargs,
    )
