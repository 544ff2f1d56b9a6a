"""Signature Version 2, checked against what botocore's SigV2Auth signs."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
from botocore.auth import SigV2Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from broker import errors
from broker.api import sigv2


def signed(secret: str = "s3cret") -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url="http://LocalHost:8000/123456789012/orders",
        data={"Action": "SendMessage", "MessageBody": "a & ~x*"},
    )
    SigV2Auth(Credentials("AKIDEXAMPLE", secret)).add_auth(request)
    return dict(parse_qsl(request.body.decode()))


def test_a_botocore_sigv2_signature_verifies():
    params = signed()
    assert sigv2.is_signed(params) and sigv2.access_key_id(params) == "AKIDEXAMPLE"
    sigv2.verify(
        params, "s3cret", method="POST", host="LocalHost:8000", path="/123456789012/orders"
    )


def test_another_secret_another_path_or_a_changed_parameter_does_not_match():
    for secret, path, change in (
        ("other", "/123456789012/orders", {}),
        ("s3cret", "/123456789012/billing", {}),
        ("s3cret", "/123456789012/orders", {"MessageBody": "changed"}),
    ):
        with pytest.raises(errors.SignatureDoesNotMatch):
            sigv2.verify(
                {**signed(), **change}, secret, method="POST", host="LocalHost:8000", path=path
            )


def test_a_timestamp_more_than_15_minutes_away_has_expired():
    with pytest.raises(errors.RequestExpired):
        sigv2.verify(
            signed(),
            "s3cret",
            method="POST",
            host="LocalHost:8000",
            path="/123456789012/orders",
            now=time.time() + 16 * 60,
        )
