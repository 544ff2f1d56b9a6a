"""`/_aws/sqs/messages`: peeking at messages the way other local emulators' helpers do.

The calls and the answers' shapes are those LocalStack's own developer-endpoint
tests make and expect, so a suite written against it runs unchanged here.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from tests.broker.api import wire
from tests.broker.api.conftest import make_client

NS = {"sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}


def peek(base: str, queue_url: str, *, as_json=True, **flags):
    params = urlencode({"QueueUrl": queue_url, **{k: str(v) for k, v in flags.items()}})
    headers = {"Accept": "application/json"} if as_json else {}
    status, _headers, text = wire.send(
        f"{base}/_aws/sqs/messages?{params}", method="GET", headers=headers, sign=False
    )
    return status, text


def listed(text: str) -> list[dict]:
    result = json.loads(text)["ReceiveMessageResponse"]["ReceiveMessageResult"]
    if result is None:
        return []
    messages = result["Message"]
    return messages if isinstance(messages, list) else [messages]


def attributes(message: dict) -> dict:
    return {a["Name"]: a["Value"] for a in message["Attribute"]}


def test_peeking_has_no_side_effects(live_server_url, sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-1")
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-2")

    status, text = peek(live_server_url, queue_url, as_json=False)
    assert status == 200
    root = ET.fromstring(text)
    found = root.findall("sqs:ReceiveMessageResult/sqs:Message", NS)
    assert [m.find("sqs:Body", NS).text for m in found] == ["message-1", "message-2"]
    counts = {
        a.find("sqs:Name", NS).text: a.find("sqs:Value", NS).text
        for a in found[0].findall("sqs:Attribute", NS)
    }
    assert counts["ApproximateReceiveCount"] == "0"

    got = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0, AttributeNames=["All"])
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"


def test_json_answer_lists_every_system_attribute(live_server_url, sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-1")
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-2")
    status, text = peek(live_server_url, queue_url)
    assert status == 200
    first, second = listed(text)
    assert (first["Body"], first["MD5OfBody"]) == ("message-1", "3d6b824fd8c1520e9a047d21fee6fb1f")
    assert second["Body"] == "message-2"
    assert attributes(first)["SenderId"] == "000000000000"
    assert {"ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "SentTimestamp"} <= set(
        attributes(first)
    )


def test_show_invisible_adds_in_flight_messages(live_server_url, sqs, queue_url):
    for n in (1, 2, 3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"message-{n}")
    sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=300)

    assert [m["Body"] for m in listed(peek(live_server_url, queue_url)[1])] == [
        "message-2",
        "message-3",
    ]
    shown = listed(peek(live_server_url, queue_url, ShowInvisible="true")[1])
    assert [m["Body"] for m in shown] == ["message-1", "message-2", "message-3"]
    assert [attributes(m)["IsVisible"] for m in shown] == ["false", "true", "true"]


def test_show_delayed_adds_delayed_messages(live_server_url, sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-1")
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-2", DelaySeconds=60)
    assert [m["Body"] for m in listed(peek(live_server_url, queue_url)[1])] == ["message-1"]
    shown = listed(peek(live_server_url, queue_url, ShowDelayed="true")[1])
    assert [attributes(m)["IsDelayed"] for m in shown] == ["false", "true"]


def test_a_blocked_fifo_group_is_hidden_unless_invisible_ones_are_asked_for(live_server_url, sqs):
    url = sqs.create_queue(
        QueueName=f"dev-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "VisibilityTimeout": "120",
        },
    )["QueueUrl"]
    for n, group in ((1, "1"), (2, "1"), (3, "2"), (4, "2")):
        sqs.send_message(QueueUrl=url, MessageBody=f"message-{n}", MessageGroupId=group)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    assert [m["Body"] for m in listed(peek(live_server_url, url)[1])] == ["message-3", "message-4"]
    assert len(listed(peek(live_server_url, url, ShowInvisible="true")[1])) == 4


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_an_sdk_can_use_the_endpoint_for_receive_message(
    live_server_url, sqs, queue_url, query_model_dir, protocol
):
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-1")
    sqs.send_message(QueueUrl=queue_url, MessageBody="message-2")
    peeker = make_client(
        f"{live_server_url}/_aws/sqs/messages",
        data_path=query_model_dir if protocol == "query" else None,
    )
    got = peeker.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)
    assert [m["Body"] for m in got["Messages"]] == ["message-1", "message-2"]
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "0"
    with pytest.raises(ClientError) as caught:
        peeker.send_message(QueueUrl=queue_url, MessageBody="nope")
    assert caught.value.response["Error"]["Code"] == "InvalidRequest"
    assert caught.value.response["Error"]["Message"] == (
        "This endpoint only accepts ReceiveMessage calls"
    )


def test_the_path_form_names_the_queue(live_server_url, sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="by path")
    account, name = queue_url.rsplit("/", 2)[-2:]
    status, _h, text = wire.send(
        f"{live_server_url}/_aws/sqs/messages/us-east-1/{account}/{name}",
        method="GET",
        headers={"Accept": "application/json"},
        sign=False,
    )
    assert status == 200
    assert [m["Body"] for m in listed(text)] == ["by path"]


def test_without_a_queue_url_the_answer_is_non_existent_queue(live_server_url):
    status, _h, text = wire.send(
        f"{live_server_url}/_aws/sqs/messages",
        method="GET",
        headers={"Accept": "application/json"},
        sign=False,
    )
    assert status == 400
    assert json.loads(text)["ErrorResponse"]["Error"]["Code"] == (
        "AWS.SimpleQueueService.NonExistentQueue"
    )
