"""Real boto3 against a live playground: the cost panel counts SQS requests as AWS
bills them (one per call, one per 64 KB chunk of a send's payload) and leaves out
the ones refused before they reached the service."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from tests.broker.api.conftest import make_client


def billed(learner_workspace, line: str) -> int:
    """A line's quantity on the workspace page's cost panel (0 when it is not shown)."""
    with learner_workspace.browser.open(learner_workspace.url) as response:
        page = response.read().decode()
    found = re.search(rf'data-line="{line}" data-quantity="(\d+)"', page)
    return int(found.group(1)) if found else 0


def test_a_100_kb_message_costs_two_requests_and_a_refused_one_costs_nothing(learner_workspace):
    endpoint = learner_workspace.url.split("/w/")[0]
    sqs = make_client(endpoint, key=learner_workspace.access_key, secret=learner_workspace.secret)
    url = sqs.create_queue(QueueName="CostQueue")["QueueUrl"]  # 1
    sqs.send_message(QueueUrl=url, MessageBody="small")  # 1
    sqs.send_message(QueueUrl=url, MessageBody="x" * (100 * 1024))  # 2: two 64 KB chunks
    sqs.send_message_batch(  # 1: a batch is one request
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"order {i}"} for i in range(2)]
    )
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]  # 1
    assert len(received) == 4
    sqs.delete_message_batch(  # 1
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)
        ],
    )
    with pytest.raises(ClientError):  # a wrong secret: refused before SQS, not billed
        make_client(endpoint, key=learner_workspace.access_key, secret="wrong").send_message(
            QueueUrl=url, MessageBody="refused"
        )

    assert billed(learner_workspace, "sqs_requests") == 7
    assert billed(learner_workspace, "sqs_fifo_requests") == 0
