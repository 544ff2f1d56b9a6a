"""The awsJson protocols: SQS's (1.0, `X-Amz-Target: AmazonSQS.<Action>`) and KMS's
(1.1, `TrentService.<Action>`); `broker/api/services.py` says which target is whose.

Request and response bodies use the member names of the current botocore model
(`protocols.md` §2.1–§2.2): maps are objects, lists arrays, blobs base64 strings.
Errors are rendered by `broker.api.errors.json_error`.
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from broker import errors


def parse(body: bytes) -> dict:
    """The request's parameters; MalformedRequest when the body is not a JSON object."""
    if not body.strip():
        return {}
    try:
        params = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.MalformedRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(params, dict):
        raise errors.MalformedRequest("The request body must be a JSON object.")
    return params


def render(result: dict, request_id: str, *, json_version: str = "1.0") -> HttpResponse:
    response = HttpResponse(
        json.dumps(result, separators=(",", ":")),
        content_type=f"application/x-amz-json-{json_version}",
    )
    response["x-amzn-RequestId"] = request_id
    return response
