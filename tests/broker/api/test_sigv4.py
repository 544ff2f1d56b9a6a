"""SigV4 verification against requests signed by botocore's own SigV4Auth (protocols.md §5)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from broker import errors
from broker.api import sigv4

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def signed(*, url="http://127.0.0.1:8123/", body=b'{"QueueName":"q"}', secret=SECRET, headers=None):
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.CreateQueue",
            **(headers or {}),
        },
    )
    SigV4Auth(Credentials("AKIDEXAMPLE", secret), "sqs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    wire_headers = {k.lower(): v for k, v in prepared.headers.items()}
    wire_headers.setdefault("host", urlsplit(url).netloc)
    return prepared, wire_headers


def check(prepared, headers, *, secret=SECRET, body=None, now=None):
    auth = sigv4.parse_authorization(headers["authorization"])
    parts = urlsplit(prepared.url)
    sigv4.verify(
        auth,
        secret,
        method=prepared.method,
        raw_path=parts.path or "/",
        query_string=parts.query,
        headers=headers,
        body=prepared.body if body is None else body,
        now=now,
    )


def test_a_request_signed_by_botocore_verifies():
    prepared, headers = signed()
    check(prepared, headers)


def test_the_authorization_header_names_key_scope_and_signed_headers():
    _prepared, headers = signed()
    auth = sigv4.parse_authorization(headers["authorization"])
    assert auth.access_key_id == "AKIDEXAMPLE"
    assert (auth.region, auth.service) == ("us-east-1", "sqs")
    assert "host" in auth.signed_headers and "x-amz-target" in auth.signed_headers


def test_a_query_string_request_verifies():
    prepared, headers = signed(
        url="http://localhost:9/000000000000/q?Action=ListQueues&b=x%20y", body=b""
    )
    check(prepared, headers)


def test_a_tampered_body_does_not_match():
    prepared, headers = signed()
    with pytest.raises(errors.SignatureDoesNotMatch):
        check(prepared, headers, body=b'{"QueueName":"other"}')


def test_a_different_host_port_does_not_match():
    prepared, headers = signed()
    headers["host"] = "127.0.0.1:8124"
    with pytest.raises(errors.SignatureDoesNotMatch):
        check(prepared, headers)


def test_the_wrong_secret_does_not_match():
    prepared, headers = signed(secret="not-the-secret")
    with pytest.raises(errors.SignatureDoesNotMatch) as caught:
        check(prepared, headers)
    assert caught.value.status == 403


def test_a_request_signed_more_than_15_minutes_ago_has_expired():
    prepared, headers = signed()
    with pytest.raises(errors.RequestExpired):
        check(prepared, headers, now=time.time() + 16 * 60)


def test_no_authorization_header_is_a_missing_token():
    with pytest.raises(errors.MissingAuthenticationToken) as caught:
        sigv4.parse_authorization(None)
    assert caught.value.status == 403


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID, SignedHeaders=host, Signature=abc",
        "AWS AKID:signature",
    ],
)
def test_a_garbled_authorization_header_is_an_incomplete_signature(header):
    with pytest.raises(errors.IncompleteSignature) as caught:
        sigv4.parse_authorization(header)
    assert caught.value.status == 400
