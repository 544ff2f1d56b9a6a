"""AWS Signature Version 4: checking the `Authorization` header of a request.

Follows `shared/reference/protocols.md` §5 (the algorithm botocore's `SigV4Auth`
implements). The secret comes from `broker.workspaces.resolve_credentials`; this
module only parses and computes, it touches no database.

Clock skew: an `X-Amz-Date` more than 15 minutes from the *wall* clock (never a
workspace's simulated clock) is answered with `RequestExpired` (400), the code
AWS's CommonErrors page documents for it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import posixpath
import time
from calendar import timegm
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote

import botocore
from django.conf import settings

from broker import errors

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    date: str  # yyyymmdd of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@functools.cache
def known_regions() -> frozenset[str]:
    """The region names of every AWS partition, from botocore's endpoint data."""
    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    return frozenset(name for partition in data["partitions"] for name in partition["regions"])


def check_region(region: str) -> None:
    """A credential scoped to a region AWS does not have is refused, as AWS refuses it;
    the server's own PLAYGROUND_REGION is accepted whatever it is called. Each region
    is a workspace of its own, so a made-up name would make one."""
    if region == settings.PLAYGROUND_REGION or region in known_regions():
        return
    raise errors.SignatureDoesNotMatch(
        f"Credential should be scoped to a valid region, not '{region[:64]}'. "
    )


def parse_authorization(header: str | None) -> Authorization:
    """Split the header into its parts; MissingAuthenticationToken / IncompleteSignature."""
    if not header:
        raise errors.MissingAuthenticationToken()
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise errors.IncompleteSignature(
            f"Unsupported authorization algorithm {algorithm[:40]!r}; only {ALGORITHM} is accepted."
        )
    parts = {}
    for piece in rest.split(","):
        key, sep, value = piece.strip().partition("=")
        if sep:
            parts[key] = value
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise errors.IncompleteSignature(
            f"Authorization header requires '{missing[0]}' parameter. Authorization={header[:200]}"
        )
    credential = parts["Credential"].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request" or not credential[0]:
        raise errors.IncompleteSignature(
            "Credential should be scoped to a valid region, service and date: "
            f"{parts['Credential'][:200]}"
        )
    signed = tuple(h.strip().lower() for h in parts["SignedHeaders"].split(";") if h.strip())
    return Authorization(
        access_key_id=credential[0],
        date=credential[1],
        region=credential[2],
        service=credential[3],
        signed_headers=signed,
        signature=parts["Signature"].strip(),
    )


def parse_amz_date(value: str | None) -> float:
    """Epoch seconds of an `X-Amz-Date` (%Y%m%dT%H%M%SZ); IncompleteSignature if absent."""
    if not value:
        raise errors.IncompleteSignature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    try:
        return float(timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise errors.IncompleteSignature(f"Invalid X-Amz-Date value {value[:40]!r}.") from None


def canonical_uri(raw_path: str) -> str:
    """The path as botocore signs it: dot segments removed, then URI-encoded again."""
    normalized = posixpath.normpath(raw_path or "/")
    if raw_path.endswith("/") and normalized != "/":
        normalized += "/"
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    return quote(normalized, safe="/~")


def canonical_query_string(query_string: str) -> str:
    pairs = [
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in parse_qsl(query_string, keep_blank_values=True)
    ]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: dict[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
) -> str:
    """`headers` maps lower-case names to values as received."""
    lines = [f"{name}:{' '.join(headers.get(name, '').split())}" for name in sorted(signed_headers)]
    payload = headers.get("x-amz-content-sha256") or (
        hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    )
    if payload != UNSIGNED_PAYLOAD and "x-amz-content-sha256" in headers:
        # The client's declared hash must be the body's, or the body was changed.
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query_string(query_string),
            "\n".join(lines) + "\n",
            ";".join(sorted(signed_headers)),
            payload,
        ]
    )


def signing_key(secret: str, auth: Authorization) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), auth.date.encode(), hashlib.sha256).digest()
    for part in (auth.region, auth.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def expected_signature(auth: Authorization, secret: str, amz_date: str, creq: str) -> str:
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            amz_date,
            auth.scope,
            hashlib.sha256(creq.encode("utf-8")).hexdigest(),
        ]
    )
    return hmac.new(
        signing_key(secret, auth), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def verify(
    auth: Authorization,
    secret: str,
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: dict[str, str],
    body: bytes,
    now: float | None = None,
) -> None:
    """Raise SignatureDoesNotMatch / RequestExpired / IncompleteSignature, else return."""
    amz_date = headers.get("x-amz-date", "")
    signed_at = parse_amz_date(amz_date)
    now = time.time() if now is None else now
    if abs(now - signed_at) > MAX_SKEW_SECONDS:
        raise errors.RequestExpired(
            f"Request has expired. Signed at {amz_date}, the server time is "
            f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))} (15 minutes allowed)."
        )
    if "host" not in auth.signed_headers:
        raise errors.IncompleteSignature("The host header must be signed.")
    if auth.date != amz_date[:8]:
        raise errors.SignatureDoesNotMatch(
            f"Credential should be scoped to a valid date: {auth.date} is not {amz_date[:8]}."
        )
    creq = canonical_request(
        method=method,
        raw_path=raw_path,
        query_string=query_string,
        headers=headers,
        signed_headers=auth.signed_headers,
        body=body,
    )
    if not hmac.compare_digest(expected_signature(auth, secret, amz_date, creq), auth.signature):
        raise errors.SignatureDoesNotMatch()
