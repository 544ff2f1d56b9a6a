"""The in-flight limit through real boto3 (both protocols) and the AWS CLI (sqs.md §6).

One queue of the live stack gets 120,000 messages in flight with
`manage.py fill_queue` (a receive loop would take minutes); then every client
sees AWS's answer to one more short poll.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.broker.api.test_sqs_boto3 import error_of

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 120_000


@pytest.fixture(scope="module")
def full_queue(live_stack, sqs):
    """A standard queue with LIMIT messages in flight for 10 minutes and one waiting."""
    url = sqs.create_queue(QueueName=f"full-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    account, name = url.rstrip("/").split("/")[-2:]
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "fill_queue",
            account,
            name,
            str(LIMIT),
            "--in-flight",
            "600",
        ],
        env=live_stack.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    sqs.send_message(QueueUrl=url, MessageBody="waiting")
    yield url
    sqs.delete_queue(QueueUrl=url)  # the other tests share this stack


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_a_short_poll_at_the_in_flight_limit_is_overlimit_403(protocol, sqs, query_sqs, full_queue):
    client = sqs if protocol == "json" else query_sqs
    error = error_of(client.receive_message, QueueUrl=full_queue, WaitTimeSeconds=0)
    assert (error["Code"], error["status"]) == ("OverLimit", 403)
    assert "received without being deleted" in error["Message"]


def test_a_long_poll_at_the_in_flight_limit_waits_and_gets_nothing(sqs, full_queue):
    got = sqs.receive_message(QueueUrl=full_queue, WaitTimeSeconds=1)
    assert "Messages" not in got
    attrs = sqs.get_queue_attributes(QueueUrl=full_queue, AttributeNames=["All"])["Attributes"]
    assert (
        attrs["ApproximateNumberOfMessagesNotVisible"],
        attrs["ApproximateNumberOfMessages"],
    ) == (str(LIMIT), "1")


def test_the_cli_shows_overlimit_at_the_in_flight_limit(aws, full_queue):
    result = aws("receive-message", "--queue-url", full_queue, "--wait-time-seconds", "0")
    assert result.returncode != 0
    assert "(OverLimit)" in result.stderr and "ReceiveMessage" in result.stderr, result.stderr
