"""The query protocol and raw wire behaviour: XML answers, ErrorResponse, JSON error headers.

Query requests are what botocore ≤ 1.34.89 and old SDKs send (protocols.md §1, §3);
a boto3 client built on that model must work unchanged. Hand-made requests check
the bytes: codes and statuses from sqs.md §11, namespace 2012-11-05.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from tests.broker.api import wire

NS = {"sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}


def xml_error(text: str) -> tuple[str, str]:
    root = ET.fromstring(text)
    assert root.tag == "{http://queue.amazonaws.com/doc/2012-11-05/}ErrorResponse"
    assert root.find("sqs:RequestId", NS).text
    return root.find("sqs:Error/sqs:Code", NS).text, root.find("sqs:Error/sqs:Type", NS).text


def test_a_query_protocol_boto3_client_sends_and_receives_every_attribute_type(query_sqs):
    url = query_sqs.create_queue(
        QueueName=f"qp-{uuid.uuid4().hex[:10]}",
        Attributes={"VisibilityTimeout": "20"},
        tags={"k": "v"},
    )["QueueUrl"]
    attributes = {
        "s": {"DataType": "String", "StringValue": 'line\r\nbreak "quoted"'},
        "n": {"DataType": "Number.int", "StringValue": "3"},
        "b": {"DataType": "Binary.gz", "BinaryValue": b"\x00\x01\xfe"},
    }
    sent = query_sqs.send_message(
        QueueUrl=url,
        MessageBody='<xml> & "quotes"\r\n',
        MessageAttributes=attributes,
        DelaySeconds=0,
    )
    [m] = query_sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=2
    )["Messages"]
    assert m["Body"] == '<xml> & "quotes"\r\n'
    assert m["MessageAttributes"] == attributes
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert query_sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"k": "v"}
    assert query_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"
    ] == {"VisibilityTimeout": "20"}
    batch = query_sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "ok", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": "\x00"}],
    )
    assert [e["Id"] for e in batch["Successful"]] == ["ok"]
    assert batch["Failed"][0]["Code"] == "InvalidMessageContents"
    query_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_query_errors_map_to_the_modeled_exceptions(query_sqs):
    with pytest.raises(query_sqs.exceptions.QueueDoesNotExist):
        query_sqs.get_queue_url(QueueName="never-created-here")
    with pytest.raises(ClientError) as caught:
        query_sqs.send_message_batch(QueueUrl="http://x/000000000000/nope", Entries=[])
    assert caught.value.response["Error"]["Code"] in {
        "AWS.SimpleQueueService.NonExistentQueue",
        "AWS.SimpleQueueService.EmptyBatchRequest",
    }


def test_a_query_error_is_an_error_response_document(live_server_url):
    status, headers, body = wire.query(
        live_server_url, {"Action": "GetQueueUrl", "QueueName": "nope-nope"}
    )
    assert status == 400
    assert headers["Content-Type"].startswith("text/xml")
    assert xml_error(body) == ("AWS.SimpleQueueService.NonExistentQueue", "Sender")


def test_a_missing_parameter_names_it(live_server_url):
    status, _headers, body = wire.query(live_server_url, {"Action": "CreateQueue"})
    assert status == 400
    assert xml_error(body)[0] == "MissingParameter"
    assert "QueueName" in body


def test_an_unknown_action_is_invalid_action(live_server_url):
    status, _headers, body = wire.query(live_server_url, {"Action": "FlyToTheMoon"})
    assert (status, xml_error(body)[0]) == (400, "InvalidAction")


def test_query_parameters_may_come_in_a_get_querystring(live_server_url):
    status, _headers, body = wire.send(
        f"{live_server_url}/?Action=ListQueues&Version=2012-11-05&QueueNamePrefix=zz-none",
        method="GET",
    )
    assert status == 200
    root = ET.fromstring(body)
    assert root.tag == "{http://queue.amazonaws.com/doc/2012-11-05/}ListQueuesResponse"
    assert root.find("sqs:ResponseMetadata/sqs:RequestId", NS).text


def test_posting_to_the_queue_url_path_works_and_a_queue_url_parameter_wins(live_server_url, sqs):
    first = sqs.create_queue(QueueName=f"path-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    second = sqs.create_queue(QueueName=f"path-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    status, _h, _b = wire.query(first, {"Action": "SendMessage", "MessageBody": "via path"})
    assert status == 200
    status, _h, _b = wire.query(
        first, {"Action": "SendMessage", "MessageBody": "via param", "QueueUrl": second}
    )
    assert status == 200
    assert sqs.receive_message(QueueUrl=first)["Messages"][0]["Body"] == "via path"
    assert sqs.receive_message(QueueUrl=second)["Messages"][0]["Body"] == "via param"


def test_an_unsigned_request_is_missing_its_authentication_token(live_server_url):
    status, _h, body = wire.query(live_server_url, {"Action": "ListQueues"}, sign=False)
    assert (status, xml_error(body)[0]) == (403, "MissingAuthenticationToken")


def test_a_garbled_signature_is_incomplete(live_server_url):
    status, headers, body = wire.send(
        live_server_url,
        body="{}",
        sign=False,
        headers={
            "X-Amz-Target": "AmazonSQS.ListQueues",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test",
        },
    )
    assert status == 400
    assert headers["x-amzn-query-error"] == "IncompleteSignature;Sender"


def test_malformed_json_is_a_clear_400_with_the_query_error_header(live_server_url):
    status, headers, body = wire.json_call(live_server_url, "ListQueues", "{not json")
    assert status == 400
    assert json.loads(body)["__type"].endswith("MalformedQueryString")
    assert headers["x-amzn-query-error"].endswith(";Sender")
    assert headers["x-amzn-RequestId"]


def test_a_wrongly_typed_json_member_is_invalid_parameter_value(live_server_url, sqs):
    url = sqs.create_queue(QueueName=f"types-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    status, headers, body = wire.json_call(
        live_server_url, "SendMessage", json.dumps({"QueueUrl": url, "MessageBody": 5})
    )
    assert status == 400
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    status, headers, _b = wire.json_call(
        live_server_url, "ReceiveMessage", json.dumps({"QueueUrl": url, "MaxNumberOfMessages": [1]})
    )
    assert (status, headers["x-amzn-query-error"]) == (400, "InvalidParameterValue;Sender")


def test_an_unknown_json_target_is_invalid_action(live_server_url):
    status, headers, _b = wire.json_call(live_server_url, "StartMessageMoveTask", "{}")
    assert (status, headers["x-amzn-query-error"]) == (400, "MissingParameter;Sender")
    status, headers, _b = wire.json_call(live_server_url, "Nonsense", "{}")
    assert (status, headers["x-amzn-query-error"]) == (400, "InvalidAction;Sender")


def test_a_body_over_the_request_limit_is_refused_without_reading_it(live_server_url):
    huge = json.dumps({"QueueName": "x" * (5 * 1024 * 1024)})
    status, headers, body = wire.json_call(live_server_url, "CreateQueue", huge)
    assert status == 400
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    assert "bytes" in json.loads(body)["message"]
