"""Whatever arrives, the endpoint answers with the AWS error boto3 expects, never a 500,
and a refused request changes nothing (the probes' reproducers, then a seeded fuzz)."""

from __future__ import annotations

import json
import random
import socket
import uuid
from urllib.parse import urlsplit

import pytest

from tests.broker.api import wire


@pytest.fixture
def queue_url(sqs):
    return sqs.create_queue(QueueName=f"fuzz-{uuid.uuid4().hex[:10]}")["QueueUrl"]


def error_of(body: str) -> str:
    return json.loads(body)["__type"].rsplit("#", 1)[-1]


def messages_in(sqs, queue_url) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("[" * 1000 + "]" * 1000, "MalformedQueryString"),
        ('{"a":' * 1000 + "1" + "}" * 1000, "MalformedQueryString"),
        (
            '{"QueueUrl": "%s", "MessageBody": "x", "x": ' + "[" * 40 + "]" * 40 + "}",
            "MalformedQueryString",
        ),
        ('{"QueueUrl": "%s", "MessageBody": "x", "DelaySeconds": NaN}', "MalformedQueryString"),
        (
            '{"QueueUrl": "%s", "MessageBody": "x", "DelaySeconds": -Infinity}',
            "MalformedQueryString",
        ),
        ('{"QueueUrl": "%s", "MessageBody": "x", "DelaySeconds": 1e400}', "MalformedQueryString"),
        ('{"QueueUrl": "%s", "MessageBody": "\\ud800"}', "InvalidMessageContents"),
        (
            '{"QueueUrl": "%s", "MessageBody": "x", "MessageAttributes": {"a": {"DataType": '
            '"String", "StringValue": "\\udfff"}}}',
            "InvalidMessageContents",
        ),
        (
            '{"QueueUrl": "%s", "MessageBody": "x", "MessageAttributes": {"\\ud800": {"DataType": '
            '"String", "StringValue": "x"}}}',
            "InvalidParameterValueException",
        ),
    ],
    ids=[
        "array-1000-deep",
        "object-1000-deep",
        "member-40-deep",
        "nan",
        "-infinity",
        "1e400",
        "surrogate-body",
        "surrogate-attribute-value",
        "surrogate-attribute-name",
    ],
)
def test_a_malformed_json_send_is_refused_and_sends_nothing(
    live_server_url, sqs, queue_url, body, code
):
    status, _headers, answer = wire.json_call(
        live_server_url, "SendMessage", body.replace("%s", queue_url)
    )

    assert (status, error_of(answer)) == (400, code)
    assert messages_in(sqs, queue_url) == 0


def test_a_lone_surrogate_in_a_tag_is_refused_and_tags_nothing(live_server_url, sqs, queue_url):
    body = json.dumps({"QueueUrl": queue_url, "Tags": {"team": "\ud800"}})
    status, _headers, answer = wire.json_call(live_server_url, "TagQueue", body)

    assert (status, error_of(answer)) == (400, "InvalidParameterValueException")
    assert sqs.list_queue_tags(QueueUrl=queue_url).get("Tags", {}) == {}


def test_a_query_key_of_1100_parts_is_refused(live_server_url, sqs, queue_url):
    status, _headers, answer = wire.query(
        live_server_url,
        {
            "Action": "SendMessage",
            "QueueUrl": queue_url,
            "MessageBody": "x",
            ".".join(["a"] * 1100): "1",
        },
    )
    assert status == 400
    assert "<Code>MalformedQueryString</Code>" in answer
    assert messages_in(sqs, queue_url) == 0


@pytest.mark.parametrize("text", ["1_0", " 10", "10 ", "٣", "0x5", "1.0", ""])
def test_an_integer_is_decimal_digits_only(live_server_url, queue_url, text):
    status, _headers, answer = wire.query(
        live_server_url,
        {"Action": "ReceiveMessage", "QueueUrl": queue_url, "MaxNumberOfMessages": text},
    )
    if text == "":  # an empty member is an absent one
        assert status == 200
        return
    assert status == 400
    assert "<Code>InvalidParameterValue</Code>" in answer


def test_a_signed_integer_is_an_integer(live_server_url, queue_url):
    status, _headers, answer = wire.query(
        live_server_url,
        {"Action": "ReceiveMessage", "QueueUrl": queue_url, "MaxNumberOfMessages": "+5"},
    )
    assert status == 200, answer


def test_a_credential_scoped_to_no_region_is_refused(live_server_url):
    status, headers, answer = wire.json_call(
        live_server_url, "CreateQueue", json.dumps({"QueueName": "mars"}), region="mars-1"
    )
    assert (status, headers["x-amzn-query-error"]) == (403, "SignatureDoesNotMatch;Sender")
    assert json.loads(answer)["message"] == (
        "Credential should be scoped to a valid region, not 'mars-1'. "
    )


def test_a_credential_scoped_to_another_aws_region_is_accepted(live_server_url):
    status, _headers, answer = wire.json_call(
        live_server_url, "ListQueues", "{}", region="ap-southeast-2"
    )
    assert status == 200, answer


def test_ten_messages_of_1_mib_in_a_batch_are_batch_request_too_long(
    live_server_url, sqs, queue_url
):
    entries = [{"Id": str(i), "MessageBody": "x" * 1_048_576} for i in range(10)]
    body = json.dumps({"QueueUrl": queue_url, "Entries": entries})
    status, _headers, answer = wire.json_call(live_server_url, "SendMessageBatch", body)

    assert (status, error_of(answer)) == (400, "BatchRequestTooLong")
    assert json.loads(answer)["message"].startswith(
        "Batch requests cannot be longer than 1048576 bytes. You have sent "
    )
    assert messages_in(sqs, queue_url) == 0


def mutations(rng: random.Random, valid: bytes):
    """Damaged copies of a valid body: bytes flipped, cut, doubled, nested, spliced."""
    junk = [
        b"NaN",
        b"-Infinity",
        b"1e999",
        b'"\\ud800"',
        b"\x00",
        b"\xff",
        b"[" * 600,
        b'{"a":' * 300,
        b"null",
        b"true",
        b'"' + b"9" * 5000 + b'"',
        b"-0",
        b"{}",
        b"[]",
    ]
    for _ in range(150):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body) + 1)
            choice = rng.random()
            if choice < 0.4:
                body[at:at] = rng.choice(junk)
            elif choice < 0.7 and body:
                del body[at : at + rng.randint(1, 8)]
            elif body:
                body[min(at, len(body) - 1)] = rng.randrange(256)
        yield bytes(body)


def test_damaged_json_requests_get_aws_errors_never_a_500(live_server_url, queue_url):
    rng = random.Random(20261203)
    valid = json.dumps(
        {
            "QueueUrl": queue_url,
            "MessageBody": "order 1",
            "DelaySeconds": 0,
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "x"}},
        }
    ).encode()
    answers = {}
    for action in ("SendMessage", "ReceiveMessage", "SetQueueAttributes", "SendMessageBatch"):
        for body in mutations(rng, valid):
            status, headers, answer = wire.json_call(live_server_url, action, body)
            assert status < 500, (action, body[:200], answer)
            assert headers["Content-Type"].startswith("application/x-amz-json"), answer
            if status >= 400:
                answers[error_of(answer)] = answers.get(error_of(answer), 0) + 1
    assert "InternalFailure" not in answers
    assert len(answers) >= 3, answers  # the damage reached more than the JSON parser


def test_damaged_query_requests_get_aws_errors_never_a_500(live_server_url, queue_url):
    rng = random.Random(3721948130)
    keys = [
        "Action",
        "QueueUrl",
        "MessageBody",
        "MessageAttribute.1.Name",
        "MessageAttribute.1.Value.DataType",
        "MessageAttribute.1.Value.StringValue",
        "DelaySeconds",
        "SendMessageBatchRequestEntry.1.Id",
        "Attribute.1.Name",
    ]
    values = [
        "SendMessage",
        "SendMessageBatch",
        queue_url,
        "x",
        "1_0",
        "-1",
        "99999999999999999999",
        "String",
        "Number",
        "Binary",
        "",
        "..",
        "1." * 300,
        "\u00e9",
        "%ZZ",
    ]
    for _ in range(300):
        params = {
            "Action": rng.choice(["SendMessage", "SendMessageBatch", "ReceiveMessage"]),
            "QueueUrl": queue_url,
        }
        for _ in range(rng.randint(1, 6)):
            key = rng.choice(keys)
            if rng.random() < 0.2:
                key += "." + rng.choice(["1", "x", "", "1.2.3"])
            params[key] = rng.choice(values)
        status, _headers, answer = wire.query(live_server_url, params)
        assert status < 500, (params, answer)
        assert answer.startswith("<?xml"), answer


def raw_request(url: str, head: bytes, body: bytes = b"{}") -> tuple[int, dict, bytes]:
    """Send bytes no HTTP client would (a NUL in a header); the parsed answer."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    request = head + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, payload


@pytest.mark.parametrize("byte", [b"\x00", b"\x85", b"\x0b"], ids=["NUL", "NEL", "VT"])
def test_a_forbidden_byte_in_x_amz_target_gets_an_aws_error(live_server_url, byte):
    status, headers, body = raw_request(
        live_server_url,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"X-Amz-Target: AmazonSQS.List" + byte + b"Queues",
    )
    assert status == 400
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert json.loads(body)["__type"] == "InvalidParameterValue"


def test_a_forbidden_byte_in_a_query_clients_header_gets_the_query_error(live_server_url):
    status, headers, body = raw_request(
        live_server_url,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Date: 2026\x0012\r\n"
        b"Content-Type: application/x-www-form-urlencoded",
        b"Action=ListQueues",
    )
    assert status == 400
    assert b"<Code>InvalidParameterValue</Code>" in body


def test_a_browsers_forbidden_byte_still_gets_the_servers_own_answer(live_server_url):
    status, headers, _ = raw_request(
        live_server_url, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Note: a\x85b", b""
    )
    assert status == 400
    assert headers["content-type"].startswith("text/html")


def test_a_signed_get_with_a_body_is_checked_against_that_body(live_server_url):
    """The signature covers the body's hash whatever the method (found by the fuzz)."""
    status, _, answer = wire.send(
        live_server_url + "/2015-03-31/functions/absent",
        method="GET",
        body=b"{}",
        service="lambda",
        headers={"Content-Type": "application/json"},
    )
    assert (status, json.loads(answer)["Type"]) == (404, "User")
    assert "Function not found" in json.loads(answer)["Message"]
