"""FIFO queues through real boto3, on both wire protocols (sqs.md §4.3, §4.4, §5.3, §9).

`client` runs each test twice: JSON protocol (current botocore) and query
protocol (botocore 1.34.89's model). Error codes are the query codes boto3
shows for both (sqs.md §11).
"""

from __future__ import annotations

import uuid

import pytest

from tests.broker.api.test_sqs_boto3 import error_of


@pytest.fixture(params=["json", "query"])
def client(request, sqs, query_sqs):
    return sqs if request.param == "json" else query_sqs


@pytest.fixture
def fifo_url(client):
    name = f"f-{uuid.uuid4().hex[:12]}.fifo"
    return client.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]


def test_fifo_queue_reports_its_attributes(client, fifo_url):
    attrs = client.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert (attrs["DeduplicationScope"], attrs["FifoThroughputLimit"]) == ("queue", "perQueue")


def test_fifo_name_without_the_attribute_is_refused(client):
    error = error_of(client.create_queue, QueueName=f"f-{uuid.uuid4().hex[:8]}.fifo")
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)


def test_send_returns_a_sequence_number_and_a_duplicate_the_first_message_id(client, fifo_url):
    first = client.send_message(
        QueueUrl=fifo_url, MessageBody="pay", MessageGroupId="o-1", MessageDeduplicationId="pay-1"
    )
    again = client.send_message(
        QueueUrl=fifo_url, MessageBody="pay", MessageGroupId="o-1", MessageDeduplicationId="pay-1"
    )
    assert len(first["SequenceNumber"]) == 20
    assert (again["MessageId"], again["SequenceNumber"]) == (
        first["MessageId"],
        first["SequenceNumber"],
    )
    attrs = client.get_queue_attributes(
        QueueUrl=fifo_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_group_order_and_blocking_over_the_wire(client, fifo_url):
    client.send_message_batch(
        QueueUrl=fifo_url,
        Entries=[
            {
                "Id": f"a{i}",
                "MessageBody": f"a{i}",
                "MessageGroupId": "A",
                "MessageDeduplicationId": f"a{i}",
            }
            for i in range(3)
        ]
        + [
            {"Id": "b0", "MessageBody": "b0", "MessageGroupId": "B", "MessageDeduplicationId": "b0"}
        ],
    )
    first = client.receive_message(
        QueueUrl=fifo_url, MaxNumberOfMessages=2, AttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in first] == ["a0", "a1"]
    assert first[0]["Attributes"]["MessageGroupId"] == "A"
    assert first[0]["Attributes"]["MessageDeduplicationId"] == "a0"
    assert int(first[0]["Attributes"]["SequenceNumber"]) < int(
        first[1]["Attributes"]["SequenceNumber"]
    )
    rest = client.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["b0"]
    client.delete_message_batch(
        QueueUrl=fifo_url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(first)],
    )
    after = client.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in after] == ["a2"]


def test_missing_group_id_is_a_missing_parameter(client, fifo_url):
    error = error_of(
        client.send_message, QueueUrl=fifo_url, MessageBody="x", MessageDeduplicationId="d"
    )
    assert (error["Code"], error["status"]) == ("MissingParameter", 400)
    assert "MessageGroupId" in error["Message"]


def test_missing_deduplication_id_without_content_based_deduplication(client, fifo_url):
    error = error_of(client.send_message, QueueUrl=fifo_url, MessageBody="x", MessageGroupId="g")
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert "ContentBasedDeduplication" in error["Message"]


def test_per_message_delay_is_refused_on_fifo(client, fifo_url):
    error = error_of(
        client.send_message,
        QueueUrl=fifo_url,
        MessageBody="x",
        MessageGroupId="g",
        MessageDeduplicationId="d",
        DelaySeconds=2,
    )
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)


def test_receive_request_attempt_id_returns_the_same_handles(client, fifo_url):
    client.send_message(
        QueueUrl=fifo_url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d"
    )
    first = client.receive_message(QueueUrl=fifo_url, ReceiveRequestAttemptId="try-1")
    retry = client.receive_message(QueueUrl=fifo_url, ReceiveRequestAttemptId="try-1")
    assert retry["Messages"][0]["ReceiptHandle"] == first["Messages"][0]["ReceiptHandle"]


def test_expired_handle_cannot_delete_on_fifo(client, fifo_url):
    client.send_message(
        QueueUrl=fifo_url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d"
    )
    [m] = client.receive_message(QueueUrl=fifo_url, VisibilityTimeout=0)["Messages"]
    error = error_of(client.delete_message, QueueUrl=fifo_url, ReceiptHandle=m["ReceiptHandle"])
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert "The receipt handle has expired" in error["Message"]


def test_content_based_deduplication_is_settable(client, fifo_url):
    client.set_queue_attributes(QueueUrl=fifo_url, Attributes={"ContentBasedDeduplication": "true"})
    a = client.send_message(QueueUrl=fifo_url, MessageBody="same", MessageGroupId="g")
    b = client.send_message(QueueUrl=fifo_url, MessageBody="same", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"]


def test_modifying_the_queue_type_is_refused(client, fifo_url):
    error = error_of(
        client.set_queue_attributes, QueueUrl=fifo_url, Attributes={"FifoQueue": "false"}
    )
    assert (error["Code"], error["status"]) == ("InvalidAttributeValue", 400)
