"""Message move tasks through boto3, on both protocols (sqs.md §8).

The live stack's ticker advances the task, so a redrive completes on its own.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.broker.api.test_sqs_boto3 import error_of


@pytest.fixture(params=["json", "query"])
def client(request, sqs, query_sqs):
    return sqs if request.param == "json" else query_sqs


def arn_of(client, url: str) -> str:
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def poisoned(client, n: int):
    dlq = client.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    source = client.create_queue(
        QueueName=f"src-{uuid.uuid4().hex[:8]}",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": arn_of(client, dlq), "maxReceiveCount": 1}
            )
        },
    )["QueueUrl"]
    for i in range(n):
        client.send_message(QueueUrl=source, MessageBody=f"m{i}")
    got = client.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert len(got["Messages"]) == n
    assert "Messages" not in client.receive_message(QueueUrl=source, MaxNumberOfMessages=10)
    return source, dlq


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("not reached in time")


def test_a_redrive_moves_the_messages_back_and_completes(client):
    source, dlq = poisoned(client, 3)
    handle = client.start_message_move_task(SourceArn=arn_of(client, dlq))["TaskHandle"]
    assert handle

    def completed():
        [task] = client.list_message_move_tasks(SourceArn=arn_of(client, dlq))["Results"]
        return task if task["Status"] == "COMPLETED" else None

    task = wait_for(completed)
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert task["ApproximateNumberOfMessagesToMove"] == 3
    assert "TaskHandle" not in task  # only a running task shows it
    back = client.receive_message(QueueUrl=source, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in back) == ["m0", "m1", "m2"]


def test_cancel_a_slow_redrive(client):
    _source, dlq = poisoned(client, 5)
    handle = client.start_message_move_task(
        SourceArn=arn_of(client, dlq), MaxNumberOfMessagesPerSecond=1
    )["TaskHandle"]
    moved = client.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert 0 <= moved < 5
    [task] = client.list_message_move_tasks(SourceArn=arn_of(client, dlq))["Results"]
    assert task["Status"] == "CANCELLED"
    error = error_of(client.cancel_message_move_task, TaskHandle=handle)
    assert (error["Code"], error["status"]) == ("ResourceNotFoundException", 404)


def test_a_queue_that_is_no_dead_letter_queue_cannot_be_redriven(client):
    url = client.create_queue(QueueName=f"plain-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    error = error_of(client.start_message_move_task, SourceArn=arn_of(client, url))
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    missing = arn_of(client, url) + "-gone"
    error = error_of(client.list_message_move_tasks, SourceArn=missing)
    assert (error["Code"], error["status"]) == ("ResourceNotFoundException", 404)
