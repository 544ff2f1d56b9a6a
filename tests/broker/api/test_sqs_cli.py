"""The AWS CLI from the venv, speaking the query protocol (botocore 1.34.89's SQS model).

botocore 1.43 speaks JSON to SQS; older clients speak query (protocols.md §1), so
the CLI runs with AWS_DATA_PATH pointing at the last query-protocol model. `--debug`
shows the form body it sent, which proves the protocol.
"""

from __future__ import annotations

import base64
import json
import uuid


def ok(result) -> dict:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_the_cli_speaks_the_query_protocol(aws):
    result = aws("list-queues", debug=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'Action': 'ListQueues'" in result.stderr
    assert "x-www-form-urlencoded" in result.stderr
    assert "X-Amz-Target" not in result.stderr


def test_create_list_send_receive_delete_with_the_cli(aws):
    name = f"cli-{uuid.uuid4().hex[:10]}"
    url = ok(
        aws(
            "create-queue",
            "--queue-name",
            name,
            "--attributes",
            "VisibilityTimeout=40",
            "--tags",
            "team=cli",
        )
    )["QueueUrl"]
    assert url.endswith(f"/000000000000/{name}")
    assert url in ok(aws("list-queues", "--queue-name-prefix", name))["QueueUrls"]
    assert ok(aws("get-queue-url", "--queue-name", name))["QueueUrl"] == url
    attrs = ok(aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All"))
    assert attrs["Attributes"]["VisibilityTimeout"] == "40"
    assert ok(aws("list-queue-tags", "--queue-url", url))["Tags"] == {"team": "cli"}

    sent = ok(
        aws(
            "send-message",
            "--queue-url",
            url,
            "--message-body",
            'say "hi" & <bye>',
            "--message-attributes",
            json.dumps(
                {
                    "n": {"DataType": "Number.int", "StringValue": "7"},
                    "b": {"DataType": "Binary", "BinaryValue": "AAEC"},
                }
            ),
        )
    )
    assert sent["MD5OfMessageAttributes"]
    received = ok(
        aws(
            "receive-message",
            "--queue-url",
            url,
            "--message-attribute-names",
            "All",
            "--attribute-names",
            "All",
            "--wait-time-seconds",
            "2",
        )
    )
    [message] = received["Messages"]
    assert message["Body"] == 'say "hi" & <bye>'
    assert message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"]["n"] == {"DataType": "Number.int", "StringValue": "7"}
    # CLI v1 sends a blob argument's text as the raw bytes and prints bytes as base64.
    assert base64.b64decode(message["MessageAttributes"]["b"]["BinaryValue"]) == b"AAEC"
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    ok(aws("set-queue-attributes", "--queue-url", url, "--attributes", "DelaySeconds=3"))
    attrs = ok(aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "DelaySeconds"))
    assert attrs["Attributes"] == {"DelaySeconds": "3"}
    ok(aws("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"]))
    ok(aws("delete-queue", "--queue-url", url))
    assert "QueueUrls" not in ok(aws("list-queues", "--queue-name-prefix", name))


def test_a_batch_through_the_cli(aws):
    url = ok(aws("create-queue", "--queue-name", f"cli-{uuid.uuid4().hex[:10]}"))["QueueUrl"]
    result = ok(
        aws(
            "send-message-batch",
            "--queue-url",
            url,
            "--entries",
            json.dumps(
                [
                    {"Id": "a", "MessageBody": "one"},
                    {
                        "Id": "b",
                        "MessageBody": "two",
                        "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
                    },
                ]
            ),
        )
    )
    assert sorted(e["Id"] for e in result["Successful"]) == ["a", "b"]
    got = ok(
        aws(
            "receive-message",
            "--queue-url",
            url,
            "--max-number-of-messages",
            "10",
            "--wait-time-seconds",
            "1",
        )
    )["Messages"]
    deleted = ok(
        aws(
            "delete-message-batch",
            "--queue-url",
            url,
            "--entries",
            json.dumps(
                [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
                + [{"Id": "bad", "ReceiptHandle": "garbage"}]
            ),
        )
    )
    assert len(deleted["Successful"]) == len(got)
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"


def test_a_cli_error_shows_the_query_error_code(aws):
    result = aws("get-queue-url", "--queue-name", f"missing-{uuid.uuid4().hex[:8]}")
    assert result.returncode != 0
    assert "AWS.SimpleQueueService.NonExistentQueue" in result.stderr


def test_a_fifo_queue_through_the_cli(aws):
    name = f"cli-{uuid.uuid4().hex[:10]}.fifo"
    url = ok(
        aws(
            "create-queue",
            "--queue-name",
            name,
            "--attributes",
            "FifoQueue=true,ContentBasedDeduplication=true",
        )
    )["QueueUrl"]
    first = ok(
        aws("send-message", "--queue-url", url, "--message-body", "one", "--message-group-id", "g")
    )
    duplicate = ok(
        aws("send-message", "--queue-url", url, "--message-body", "one", "--message-group-id", "g")
    )
    ok(aws("send-message", "--queue-url", url, "--message-body", "two", "--message-group-id", "g"))
    assert duplicate["MessageId"] == first["MessageId"]
    assert duplicate["SequenceNumber"] == first["SequenceNumber"]
    got = ok(
        aws(
            "receive-message",
            "--queue-url",
            url,
            "--max-number-of-messages",
            "10",
            "--attribute-names",
            "All",
        )
    )["Messages"]
    assert [m["Body"] for m in got] == ["one", "two"]
    assert got[0]["Attributes"]["SequenceNumber"] == first["SequenceNumber"]
    missing = aws("send-message", "--queue-url", url, "--message-body", "x")
    assert missing.returncode != 0
    assert "MissingParameter" in missing.stderr


def test_permissions_and_a_redrive_through_the_cli(aws):
    url = ok(aws("create-queue", "--queue-name", f"cli-{uuid.uuid4().hex[:10]}"))["QueueUrl"]
    ok(
        aws(
            "add-permission",
            "--queue-url",
            url,
            "--label",
            "partner",
            "--aws-account-ids",
            "111122223333",
            "--actions",
            "SendMessage",
        )
    )
    policy = ok(aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "Policy"))
    assert json.loads(policy["Attributes"]["Policy"])["Statement"][0]["Sid"] == "partner"
    ok(aws("remove-permission", "--queue-url", url, "--label", "partner"))

    arn = ok(aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "QueueArn"))[
        "Attributes"
    ]["QueueArn"]
    ok(
        aws(
            "create-queue",
            "--queue-name",
            f"cli-src-{uuid.uuid4().hex[:8]}",
            "--attributes",
            json.dumps(
                {"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})}
            ),
        )
    )
    handle = ok(aws("start-message-move-task", "--source-arn", arn))["TaskHandle"]
    assert handle
    tasks = ok(aws("list-message-move-tasks", "--source-arn", arn))["Results"]
    assert tasks[0]["SourceArn"] == arn
    missing = aws("cancel-message-move-task", "--task-handle", "no-such-task")
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
