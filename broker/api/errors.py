"""AWS errors on the wire: a `broker.errors.AwsError` as a JSON or query response.

JSON (awsJson 1.0, `protocols.md` §2.3): `{"__type": "com.amazonaws.sqs#<code>",
"message": …}` with `x-amzn-query-error: <query code>;Sender|Receiver` on every
error, so boto3 shows the legacy code in `Error.Code`. Query (`protocols.md` §3.3):
an `ErrorResponse` XML document in the 2012-11-05 namespace carrying the query code.
Statuses and codes are the ones in `sqs.md` §11. Other services write JSON errors
with their own `__type` and no query header (`broker/api/services.py`).
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from broker import errors
from broker.api.query import xml_text as escape

XMLNS = "http://queue.amazonaws.com/doc/2012-11-05/"
XML_CONTENT_TYPE = "text/xml"


class MissingAction(errors.AwsError):
    code = "MissingAction"
    default_message = "The request must contain the parameter Action."


class UnknownOperation(errors.AwsError):
    """What an awsJson service answers for a target it does not know."""

    code = "UnknownOperationException"
    default_message = "The operation is not offered by this endpoint."


class InternalFailure(errors.AwsError):
    code = "InternalFailure"
    status = 500
    sender_fault = False
    default_message = "The request processing has failed because of an unknown error."


def _fault(exc: errors.AwsError) -> str:
    return "Sender" if exc.sender_fault else "Receiver"


def json_error(
    exc: errors.AwsError,
    request_id: str,
    *,
    namespace: str = "com.amazonaws.sqs",
    query_compatible: bool = True,
    json_version: str = "1.0",
) -> HttpResponse:
    """The error as an awsJson service writes it (by default SQS's, which is
    awsQueryCompatible: the query code travels in `x-amzn-query-error`)."""
    error_type = f"{namespace}#{exc.code}" if namespace else exc.code
    body = json.dumps({"__type": error_type, "message": exc.message})
    response = HttpResponse(
        body, status=exc.status, content_type=f"application/x-amz-json-{json_version}"
    )
    response["x-amzn-RequestId"] = request_id
    if query_compatible:
        response["x-amzn-query-error"] = f"{exc.wire_query_code};{_fault(exc)}"
    return response


def query_error(exc: errors.AwsError, request_id: str, *, xmlns: str = XMLNS) -> HttpResponse:
    body = (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{xmlns}"><Error>'
        f"<Type>{_fault(exc)}</Type><Code>{escape(exc.wire_query_code)}</Code>"
        f"<Message>{escape(exc.message)}</Message><Detail/></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    response = HttpResponse(body, status=exc.status, content_type=XML_CONTENT_TYPE)
    response["x-amzn-RequestId"] = request_id
    return response
