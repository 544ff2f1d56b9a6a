"""AWS Signature Version 2: the older query-protocol signature, in the parameters.

SQS still answers SigV2-signed query requests, except on queues with
server-side encryption: those need Signature Version 4 (`InvalidSecurity`,
see `actions._queue`). A SigV2 request carries `AWSAccessKeyId`,
`SignatureVersion=2`, `SignatureMethod`, `Timestamp` (or `Expires`) and
`Signature` among its parameters and has no `Authorization` header. This
module checks the signature the way botocore's `SigV2Auth` computes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from calendar import timegm
from urllib.parse import quote

from broker import errors
from broker.api.sigv4 import MAX_SKEW_SECONDS

DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}


def is_signed(params: dict[str, str]) -> bool:
    return params.get("SignatureVersion") == "2" and "Signature" in params


def access_key_id(params: dict[str, str]) -> str:
    key = params.get("AWSAccessKeyId", "")
    if not key:
        raise errors.IncompleteSignature("A Signature Version 2 request needs AWSAccessKeyId.")
    return key


def _epoch(value: str, name: str) -> float:
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return float(timegm(time.strptime(value, layout)))
        except ValueError:
            continue
    raise errors.IncompleteSignature(f"Invalid {name} value {value[:40]!r}.")


def string_to_sign(params: dict[str, str], *, method: str, host: str, path: str) -> str:
    pairs = [
        f"{quote(k, safe='')}={quote(v, safe='-_~')}"
        for k, v in sorted(params.items())
        if k != "Signature"
    ]
    return f"{method.upper()}\n{host}\n{path or '/'}\n" + "&".join(pairs)


def verify(
    params: dict[str, str],
    secret: str,
    *,
    method: str,
    host: str,
    path: str,
    now: float | None = None,
) -> None:
    """Raise SignatureDoesNotMatch / RequestExpired / IncompleteSignature, else return."""
    digest = DIGESTS.get(params.get("SignatureMethod", ""))
    if digest is None:
        raise errors.IncompleteSignature(f"SignatureMethod must be one of {', '.join(DIGESTS)}.")
    now = time.time() if now is None else now
    if "Expires" in params:
        if _epoch(params["Expires"], "Expires") < now:
            raise errors.RequestExpired(f"Request has expired: Expires={params['Expires']}.")
    elif "Timestamp" in params:
        if abs(now - _epoch(params["Timestamp"], "Timestamp")) > MAX_SKEW_SECONDS:
            raise errors.RequestExpired(
                f"Request has expired. Timestamp {params['Timestamp']} is more than 15 "
                "minutes from the server time."
            )
    else:
        raise errors.IncompleteSignature("A Signature Version 2 request needs a Timestamp.")
    # The specification signs the host in lower case; botocore signs it as written.
    for signed_host in dict.fromkeys((host, host.lower())):
        text = string_to_sign(params, method=method, host=signed_host, path=path)
        expected = base64.b64encode(hmac.new(secret.encode(), text.encode(), digest).digest())
        if hmac.compare_digest(expected.decode(), params["Signature"]):
            return
    raise errors.SignatureDoesNotMatch()
