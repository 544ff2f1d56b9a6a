"""Lambda's REST-JSON protocol (lambda-sqs.md §9): the operation is the method and the
path, its parameters come from the path, the query string, a few headers and a JSON
body; answers are JSON with the operation's own status, errors a status, an
`x-amzn-ErrorType` header and `{"Type": "User", "message": …}`.

`broker/api/lambda_actions.py` holds the operations; this module only reads and
writes the wire.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from django.http import HttpResponse

from broker import errors
from broker.api.errors import UnknownOperation

_NAME = r"(?P<FunctionName>[^/]+)"
_UUID = r"(?P<UUID>[^/]+)"

# (method, path, operation): the botocore model's requestUri of each operation served.
ROUTES = [
    (method, re.compile(f"^{path}/?$"), operation)
    for method, path, operation in (
        ("POST", "/2015-03-31/functions", "CreateFunction"),
        ("GET", "/2015-03-31/functions", "ListFunctions"),
        ("GET", f"/2015-03-31/functions/{_NAME}", "GetFunction"),
        ("DELETE", f"/2015-03-31/functions/{_NAME}", "DeleteFunction"),
        ("GET", f"/2015-03-31/functions/{_NAME}/configuration", "GetFunctionConfiguration"),
        ("PUT", f"/2015-03-31/functions/{_NAME}/configuration", "UpdateFunctionConfiguration"),
        ("PUT", f"/2015-03-31/functions/{_NAME}/code", "UpdateFunctionCode"),
        ("POST", f"/2015-03-31/functions/{_NAME}/invocations", "Invoke"),
        ("PUT", f"/2017-10-31/functions/{_NAME}/concurrency", "PutFunctionConcurrency"),
        ("GET", f"/2019-09-30/functions/{_NAME}/concurrency", "GetFunctionConcurrency"),
        ("DELETE", f"/2017-10-31/functions/{_NAME}/concurrency", "DeleteFunctionConcurrency"),
        ("POST", "/2015-03-31/event-source-mappings", "CreateEventSourceMapping"),
        ("GET", "/2015-03-31/event-source-mappings", "ListEventSourceMappings"),
        ("GET", f"/2015-03-31/event-source-mappings/{_UUID}", "GetEventSourceMapping"),
        ("PUT", f"/2015-03-31/event-source-mappings/{_UUID}", "UpdateEventSourceMapping"),
        ("DELETE", f"/2015-03-31/event-source-mappings/{_UUID}", "DeleteEventSourceMapping"),
    )
]

# Lambda's path prefixes: a request under one of them is Lambda's, known or not.
PATH_PREFIXES = ("/2015-03-31/", "/2017-10-31/", "/2019-09-30/")

# Headers Invoke reads (botocore's `location: header` members).
INVOKE_HEADERS = {
    "InvocationType": "HTTP_X_AMZ_INVOCATION_TYPE",
    "LogType": "HTTP_X_AMZ_LOG_TYPE",
    "ClientContext": "HTTP_X_AMZ_CLIENT_CONTEXT",
}


@dataclass
class Result:
    """An operation's answer: a status, a JSON body (or raw bytes), extra headers."""

    body: dict | bytes | None = None
    status: int = 200
    headers: dict = field(default_factory=dict)


def route(method: str, path: str) -> tuple[str, dict]:
    """(operation, path parameters) of a request; UnknownOperation for none."""
    for route_method, pattern, operation in ROUTES:
        found = pattern.match(path)
        if found and route_method == method:
            return operation, found.groupdict()
    raise UnknownOperationException(f"No Lambda operation answers {method} {path[:200]}.")


class UnknownOperationException(UnknownOperation):
    status = 404


def parse(operation: str, *, body: bytes, query_string: str, meta: dict, path_params: dict):
    """The operation's parameters: path, query string, headers, then the JSON body
    (Invoke's body is its payload, kept as bytes)."""
    params: dict = dict(parse_qsl(query_string, keep_blank_values=True))
    if operation == "Invoke":
        params["Payload"] = body
        for name, key in INVOKE_HEADERS.items():
            if key in meta:
                params[name] = meta[key]
    elif body.strip():
        try:
            document = json.loads(body, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise errors.InvalidRequestContentException(
                "Could not parse request body into json: Could not parse payload into json"
            ) from None
        if not isinstance(document, dict):
            raise errors.InvalidRequestContentException(
                "Could not parse request body into json: the body must be a JSON object"
            )
        params.update(document)
    params.update(path_params)
    return params


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def render(result: Result, request_id: str) -> HttpResponse:
    if isinstance(result.body, bytes):
        content, content_type = result.body, "application/json"
    elif result.body is None:
        content, content_type = b"", "application/json"
    else:
        content, content_type = json.dumps(result.body, separators=(",", ":")), "application/json"
    response = HttpResponse(content, status=result.status, content_type=content_type)
    response["x-amzn-RequestId"] = request_id
    for name, value in result.headers.items():
        response[name] = value
    return response


def error(exc: errors.AwsError, request_id: str) -> HttpResponse:
    """Lambda's error: the code in `x-amzn-ErrorType`, the text under the member name
    the model gives it (`Message` for ResourceNotFoundException, else `message`)."""
    key = "Message" if exc.code in ("ResourceNotFoundException", "ServiceException") else "message"
    body = {"Type": "User" if exc.sender_fault else "Service", key: exc.message}
    response = HttpResponse(json.dumps(body), status=exc.status, content_type="application/json")
    if isinstance(exc, errors.TooManyRequestsException):
        body["Reason"] = exc.reason
        response.content = json.dumps(body).encode()
        response["Retry-After"] = str(exc.retry_after)
    response["x-amzn-RequestId"] = request_id
    response["x-amzn-ErrorType"] = exc.code
    return response


def log_result(text: str) -> str:
    """Invoke's X-Amz-Log-Result: the log tail, base64."""
    return base64.b64encode(text.encode()).decode()
