"""AWS errors on the wire: a `broker.errors.AwsError` as an SQS JSON or query response.

JSON (awsJson 1.0, `protocols.md` §2.3): `{"__type": "com.amazonaws.sqs#<code>",
"message": …}` with `x-amzn-query-error: <query code>;Sender|Receiver` on every
error, so boto3 shows the legacy code in `Error.Code`. Query (`protocols.md` §3.3):
an `ErrorResponse` XML document in the 2012-11-05 namespace carrying the query code.
Statuses and codes are the ones in `sqs.md` §11.
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from broker import errors
from broker.api.query import xml_text as escape

XMLNS = "http://queue.amazonaws.com/doc/2012-11-05/"
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
XML_CONTENT_TYPE = "text/xml"


class MissingAction(errors.AwsError):
    code = "MissingAction"
    default_message = "The request must contain the parameter Action."


class InternalFailure(errors.AwsError):
    code = "InternalFailure"
    status = 500
    sender_fault = False
    default_message = "The request processing has failed because of an unknown error."


def _fault(exc: errors.AwsError) -> str:
    return "Sender" if exc.sender_fault else "Receiver"


def json_error(exc: errors.AwsError, request_id: str) -> HttpResponse:
    body = json.dumps({"__type": f"com.amazonaws.sqs#{exc.code}", "message": exc.message})
    response = HttpResponse(body, status=exc.status, content_type=JSON_CONTENT_TYPE)
    response["x-amzn-RequestId"] = request_id
    response["x-amzn-query-error"] = f"{exc.wire_query_code};{_fault(exc)}"
    return response


def query_error(exc: errors.AwsError, request_id: str) -> HttpResponse:
    body = (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{XMLNS}"><Error>'
        f"<Type>{_fault(exc)}</Type><Code>{escape(exc.wire_query_code)}</Code>"
        f"<Message>{escape(exc.message)}</Message><Detail/></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    response = HttpResponse(body, status=exc.status, content_type=XML_CONTENT_TYPE)
    response["x-amzn-RequestId"] = request_id
    return response
