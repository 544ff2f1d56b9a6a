"""AWS-shaped answers to the requests the HTTP server refuses before the app sees them.

Twisted answers a header value holding NUL, CR or LF with a bare `400` and no body,
and Daphne answers the few other bytes RFC 9110 forbids with an HTML page: an SDK
reading either finds no error code. When the refused request is an SDK's (it
carries `X-Amz-*` headers or a SigV4 `Authorization`), the same 400 carries the
AWS error an SDK parses instead. Browsers still get the server's own answer.

Installed once per Daphne process, from `playground/asgi.py`.
"""

from __future__ import annotations

import json

from daphne.http_protocol import WebRequest
from twisted.web.http import HTTPChannel

MESSAGE = "A header holds a character HTTP does not allow (RFC 9110 section 5.5)."


def _is_aws_header(name: bytes, value: bytes = b"") -> bool:
    name = name.strip().lower()
    return name.startswith(b"x-amz-") or (
        name == b"authorization" and value.strip().startswith(b"AWS4-")
    )


def aws_error(json_protocol: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """(headers, body) of the 400 an SDK parses: awsJson's shape, or the query XML."""
    if json_protocol:
        body = json.dumps({"__type": "InvalidParameterValue", "message": MESSAGE}).encode()
        return [
            (b"Content-Type", b"application/x-amz-json-1.0"),
            (b"x-amzn-ErrorType", b"InvalidParameterValue"),
        ], body
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code>"
        f"<Message>{MESSAGE}</Message></Error><RequestId></RequestId></ErrorResponse>"
    ).encode()
    return [(b"Content-Type", b"text/xml")], body


def _write_and_close(channel: HTTPChannel, headers, body: bytes) -> None:
    lines = [b"HTTP/1.1 400 Bad Request", b"Content-Length: %d" % len(body), b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    channel.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    channel.loseConnection()


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    twisted_header_received = HTTPChannel.headerReceived
    daphne_basic_error = WebRequest.basic_error

    def headerReceived(self, line):  # noqa: N802 (Twisted's name)
        name, _, value = line.partition(b":")
        value = value.strip(b" \t")
        if _is_aws_header(name) and len(value.translate(None, b"\x00\r\n")) != len(value):
            # An X-Amz-Target says the JSON protocol; other X-Amz-* headers come with
            # either, and the query XML is what SQS's and SNS's clients parse.
            _write_and_close(self, *aws_error(name.strip().lower() == b"x-amz-target"))
            return False
        return twisted_header_received(self, line)

    def basic_error(self, status, status_text, body):
        headers = list(self.requestHeaders.getAllRawHeaders())
        if status == 400 and any(_is_aws_header(n, v[0] if v else b"") for n, v in headers):
            json_protocol = self.requestHeaders.hasHeader(b"x-amz-target") or (
                b"json" in (self.requestHeaders.getRawHeaders(b"content-type") or [b""])[0]
            )
            reply_headers, reply = aws_error(json_protocol)
            reply_headers.append((b"Content-Length", b"%d" % len(reply)))
            self.handle_reply(
                {"type": "http.response.start", "status": 400, "headers": reply_headers}
            )
            self.handle_reply({"type": "http.response.body", "body": reply})
            return
        daphne_basic_error(self, status, status_text, body)

    HTTPChannel.headerReceived = headerReceived
    WebRequest.basic_error = basic_error
