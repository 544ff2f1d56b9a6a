"""Lambda through the AWS CLI: `aws lambda create-function`, `invoke`, concurrency and
event source mappings, and an error as the CLI prints it."""

from __future__ import annotations

import base64
import uuid

from tests.broker.api.test_lambda_api import ROLE, zipped
from tests.broker.api.test_sqs_cli import ok


def lam(aws, *args):
    return aws(*args, service="lambda")


def test_a_function_is_created_invoked_and_triggered_with_the_cli(aws, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:10]}"
    code = tmp_path / "function.zip"
    code.write_bytes(zipped())
    created = ok(
        lam(
            aws,
            "create-function",
            "--function-name",
            name,
            "--runtime",
            "python3.12",
            "--role",
            ROLE,
            "--handler",
            "index.handler",
            "--zip-file",
            f"fileb://{code}",
            "--environment",
            "Variables={PLAYGROUND_DURATION=0.1}",
        )
    )
    assert created["FunctionName"] == name
    assert name in [f["FunctionName"] for f in ok(lam(aws, "list-functions"))["Functions"]]

    out = tmp_path / "response.json"
    answer = ok(
        lam(
            aws,
            "invoke",
            "--function-name",
            name,
            "--payload",
            '{"hello": "world"}',
            "--log-type",
            "Tail",
            str(out),
        )
    )
    assert answer["StatusCode"] == 200
    assert out.read_text() == "null"
    assert (
        'Processing message: {"hello": "world"}' in base64.b64decode(answer["LogResult"]).decode()
    )

    ok(
        lam(
            aws,
            "put-function-concurrency",
            "--function-name",
            name,
            "--reserved-concurrent-executions",
            "3",
        )
    )
    assert ok(lam(aws, "get-function-concurrency", "--function-name", name)) == {
        "ReservedConcurrentExecutions": 3
    }

    queue_url = ok(aws("create-queue", "--queue-name", name))["QueueUrl"]
    queue_arn = ok(
        aws("get-queue-attributes", "--queue-url", queue_url, "--attribute-names", "QueueArn")
    )["Attributes"]["QueueArn"]
    mapping = ok(
        lam(
            aws,
            "create-event-source-mapping",
            "--function-name",
            name,
            "--event-source-arn",
            queue_arn,
            "--batch-size",
            "5",
        )
    )
    assert mapping["State"] == "Creating"
    got = ok(lam(aws, "get-event-source-mapping", "--uuid", mapping["UUID"]))
    assert (got["State"], got["BatchSize"]) == ("Enabled", 5)
    assert ok(lam(aws, "delete-event-source-mapping", "--uuid", mapping["UUID"]))["State"] == (
        "Deleting"
    )
    assert lam(aws, "delete-function", "--function-name", name).returncode == 0


def test_the_cli_prints_lambdas_error_for_a_missing_function(aws):
    result = lam(aws, "get-function", "--function-name", "no-such-function")
    assert result.returncode == 255  # the CLI v1's code for a service error
    assert "(ResourceNotFoundException)" in result.stderr
    assert (
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-function"
        in (result.stderr)
    )
    assert result.stdout == ""
