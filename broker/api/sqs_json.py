"""The awsJson protocols: SQS's (1.0, `X-Amz-Target: AmazonSQS.<Action>`) and KMS's
(1.1, `TrentService.<Action>`); `broker/api/services.py` says which target is whose.

Request and response bodies use the member names of the current botocore model
(`protocols.md` §2.1–§2.2): maps are objects, lists arrays, blobs base64 strings.
Errors are rendered by `broker.api.errors.json_error`.
"""

from __future__ import annotations

import json
import math
import re

from django.http import HttpResponse

from broker import errors

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


MAX_DEPTH = 16  # SQS's deepest member, a batch entry's attribute value, is at 5


def _not_json(constant: str):
    raise ValueError(f"{constant} is not a JSON value")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is out of range")
    return number


def parse(body: bytes) -> dict:
    """The request's parameters; MalformedRequest when the body is not a JSON object.

    JSON proper only: no NaN or Infinity, nothing nested beyond MAX_DEPTH, no lone
    surrogate (`"\\ud800"` decodes to one, which is no character and which no database
    stores); in a message body or attribute value that is InvalidMessageContents,
    as SQS answers for characters outside XML's.
    """
    if not body.strip():
        return {}
    try:
        params = json.loads(body, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else exc
        raise errors.MalformedRequest(f"The request body is not valid JSON: {reason}.") from None
    if not isinstance(params, dict):
        raise errors.MalformedRequest("The request body must be a JSON object.")
    _check_members(params)
    return params


def _check_members(params: dict) -> None:
    stack = [(params, 1, "")]
    while stack:
        node, depth, name = stack.pop()
        if depth > MAX_DEPTH:
            raise errors.MalformedRequest(
                f"The request body is nested more than {MAX_DEPTH} levels deep."
            )
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            member = key if isinstance(key, str) else name
            for text in (key, value) if isinstance(key, str) else (value,):
                # isascii() first: a C scan many times faster than the regex on a 1 MiB body.
                if isinstance(text, str) and not text.isascii() and _LONE_SURROGATE.search(text):
                    if member in ("MessageBody", "StringValue", "StringListValues"):
                        raise errors.InvalidMessageContents()
                    raise errors.InvalidParameterValue(
                        f"Value for parameter {member} is invalid. Reason: it holds a lone "
                        "surrogate, which is not a Unicode character."
                    )
            if isinstance(value, dict | list):
                stack.append((value, depth + 1, member))


def render(result: dict, request_id: str, *, json_version: str = "1.0") -> HttpResponse:
    response = HttpResponse(
        json.dumps(result, separators=(",", ":")),
        content_type=f"application/x-amz-json-{json_version}",
    )
    response["x-amzn-RequestId"] = request_id
    return response
