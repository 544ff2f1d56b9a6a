"""The Lambda API through real boto3 on the live server (lambda-sqs.md §1, §6, §9):
functions, Invoke, reserved concurrency and event source mappings, with Lambda's
statuses, codes and messages."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import boto3
import pytest
from botocore.config import Config

from tests.broker.api.conftest import NO_RETRIES, service_client
from tests.broker.api.test_sqs_boto3 import error_of

ROLE = "arn:aws:iam::000000000000:role/consumer-role"


def zipped(source: str = "def handler(event, context):\n    return None\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def lam(live_server_url):
    return service_client("lambda", live_server_url)


@pytest.fixture(scope="module")
def unchecked(live_server_url):
    """A client that sends what it is given: botocore checks no bound before the server."""
    return boto3.client(
        "lambda",
        endpoint_url=live_server_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries=NO_RETRIES, parameter_validation=False),
    )


@pytest.fixture
def name() -> str:
    return f"fn-{uuid.uuid4().hex[:10]}"


def create(lam, name: str, **options):
    environment = options.pop("environment", {"PLAYGROUND_DURATION": "0.1"})
    return lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zipped()},
        Environment={"Variables": environment},
        **options,
    )


def status_of(exc) -> int:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


# --- functions --------------------------------------------------------------------


def test_a_created_function_reads_back_as_lambda_describes_it(lam, name):
    code = zipped()
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": code},
        Timeout=30,
        MemorySize=256,
        Description="Consumes orders",
        Environment={"Variables": {"TABLE": "orders"}},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"].endswith(f":function:{name}")
    assert created["CodeSize"] == len(code)
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert (created["Timeout"], created["MemorySize"], created["Version"]) == (30, 256, "$LATEST")
    assert created["Environment"] == {"Variables": {"TABLE": "orders"}}
    assert created["State"] == "Active"

    configuration = lam.get_function_configuration(FunctionName=created["FunctionArn"])
    assert configuration["Description"] == "Consumes orders"
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["FunctionName"] == name
    with urllib.request.urlopen(got["Code"]["Location"]) as response:
        assert response.read() == code


def test_function_configuration_and_code_can_be_changed(lam, name):
    create(lam, name)
    updated = lam.update_function_configuration(
        FunctionName=name, Timeout=60, Environment={"Variables": {"STAGE": "1"}}
    )
    assert updated["Timeout"] == 60
    assert updated["Environment"] == {"Variables": {"STAGE": "1"}}
    before = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    new_code = zipped("def handler(event, context):\n    return 1\n")
    after = lam.update_function_code(FunctionName=name, ZipFile=new_code)
    assert after["CodeSha256"] != before
    assert after["CodeSize"] == len(new_code)


def test_functions_are_listed_in_pages(lam):
    names = [f"page-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for each in names:
        create(lam, each)
    seen, marker = [], None
    while True:
        page = lam.list_functions(MaxItems=2, **({"Marker": marker} if marker else {}))
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert set(names) <= set(seen)
    assert len(seen) == len(set(seen))


def test_a_deleted_function_is_not_found(lam, name):
    create(lam, name)
    lam.delete_function(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as raised:
        lam.get_function(FunctionName=name)
    assert status_of(raised.value) == 404
    assert raised.value.response["Error"]["Message"] == (
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"
    )


@pytest.mark.parametrize(
    ("options", "code", "text"),
    [
        ({"Timeout": 901}, "ValidationException", "Member must have value between 1 and 900"),
        ({"MemorySize": 64}, "ValidationException", "between 128 and 10240"),
        ({"Runtime": "cobol"}, "ValidationException", "enum value set"),
        (
            {"Environment": {"Variables": {"AWS_REGION": "x"}}},
            "InvalidParameterValueException",
            "Reserved keys used in this request: AWS_REGION",
        ),
        (
            {"Environment": {"Variables": {"PLAYGROUND_DURATION": "1e308"}}},
            "InvalidParameterValueException",
            "PLAYGROUND_DURATION must be a number of seconds",
        ),
        ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException", "Could not unzip"),
        ({"Code": {"S3Bucket": "b", "S3Key": "k"}}, "InvalidParameterValueException", "ZipFile"),
    ],
)
def test_a_function_lambda_would_refuse_is_refused_and_not_created(
    lam, unchecked, name, options, code, text
):
    arguments = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "index.handler",
        "Code": {"ZipFile": zipped()},
        **options,
    }
    error = error_of(unchecked.create_function, **arguments)
    assert (error["Code"], error["status"]) == (code, 400)
    assert text in error["Message"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)


def test_a_second_function_of_the_same_name_is_a_conflict(lam, name):
    create(lam, name)
    with pytest.raises(lam.exceptions.ResourceConflictException) as raised:
        create(lam, name)
    assert status_of(raised.value) == 409
    assert raised.value.response["Error"]["Message"] == f"Function already exist: {name}"


# --- invoke -----------------------------------------------------------------------


def test_a_synchronous_invoke_waits_for_the_run_and_returns_its_log_tail(lam, name):
    create(lam, name, environment={"PLAYGROUND_DURATION": "0.3"})
    started = time.monotonic()
    answer = lam.invoke(FunctionName=name, Payload=b'{"order": 7}', LogType="Tail")
    assert time.monotonic() - started >= 0.25
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert answer["Payload"].read() == b"null"
    log = base64.b64decode(answer["LogResult"]).decode()
    lines = log.splitlines()
    assert lines[0].startswith("START RequestId: ")
    assert lines[1] == 'Processing message: {"order": 7}'
    assert lines[2].startswith("END RequestId: ")
    assert lines[3].startswith("REPORT RequestId: ") and "\tDuration: 300.00 ms\t" in lines[3]


def test_a_failing_function_answers_200_with_its_error(lam, name):
    create(
        lam,
        name,
        environment={"PLAYGROUND_DURATION": "0", "PLAYGROUND_FAIL_WHEN_BODY_CONTAINS": "poison"},
    )
    answer = lam.invoke(FunctionName=name, Payload=b'{"body": "poison pill"}')
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    payload = json.loads(answer["Payload"].read())
    assert payload["errorMessage"] == 'body contains "poison"'
    assert payload["errorType"] == "Exception"
    assert payload["stackTrace"] == []


def test_a_function_that_times_out_answers_sandbox_timedout(lam, name):
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zipped()},
        Timeout=1,
        Environment={"Variables": {"PLAYGROUND_DURATION": "5"}},
    )
    started = time.monotonic()
    answer = lam.invoke(FunctionName=name, Payload=b"{}")
    assert 0.9 <= time.monotonic() - started < 4
    assert answer["FunctionError"] == "Unhandled"
    payload = json.loads(answer["Payload"].read())
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")


def test_event_and_dry_run_invokes_answer_at_once(lam, name):
    create(lam, name, environment={"PLAYGROUND_DURATION": "30"})
    started = time.monotonic()
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    assert time.monotonic() - started < 5


def test_a_payload_that_is_not_json_is_refused(lam, name):
    create(lam, name)
    with pytest.raises(lam.exceptions.InvalidRequestContentException) as raised:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert status_of(raised.value) == 400


def test_invoking_a_missing_function_is_not_found(lam):
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as raised:
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert status_of(raised.value) == 404


# --- concurrency ------------------------------------------------------------------


def test_reserved_concurrency_of_zero_throttles_every_direct_invoke(lam, name):
    create(lam, name)
    assert (
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)[
            "ReservedConcurrentExecutions"
        ]
        == 0
    )
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    with pytest.raises(lam.exceptions.TooManyRequestsException) as raised:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert status_of(raised.value) == 429
    assert raised.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert raised.value.response["Error"]["Message"] == "Rate Exceeded."

    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200


def test_a_reservation_must_leave_the_account_100_unreserved(lam, name):
    create(lam, name)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as raised:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=901)
    assert "below its minimum value of [100]" in raised.value.response["Error"]["Message"]


# --- event source mappings -----------------------------------------------------------


@pytest.fixture
def queue(sqs):
    url = sqs.create_queue(
        QueueName=f"esm-{uuid.uuid4().hex[:10]}", Attributes={"VisibilityTimeout": "30"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def test_a_mapping_goes_from_creating_to_enabled_and_consumes_the_queue(lam, sqs, name, queue):
    url, arn = queue
    create(lam, name)
    created = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=5, ScalingConfig={"MaximumConcurrency": 2}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["State"] == "Creating"
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["EventSourceArn"] == arn
    assert created["FunctionArn"].endswith(f":function:{name}")
    assert created["ScalingConfig"] == {"MaximumConcurrency": 2}
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert got["State"] == "Enabled"
    assert got["LastProcessingResult"] == "No records processed"

    sqs.send_message(QueueUrl=url, MessageBody="order 1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counts = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if (
            set(counts.values()) == {"0"}
            and lam.get_event_source_mapping(UUID=created["UUID"])["LastProcessingResult"] == "OK"
        ):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the message was not consumed: {counts}")


def test_a_queue_hiding_messages_for_less_than_the_function_timeout_is_refused(lam, name, queue):
    _url, arn = queue
    create(lam, name, Timeout=60)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as raised:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert raised.value.response["Error"]["Message"] == (
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    )
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def test_mapping_errors_carry_lambdas_codes(lam, name, queue):
    _url, arn = queue
    create(lam, name)
    first = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceConflictException) as conflict:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert status_of(conflict.value) == 409
    assert first["UUID"] in conflict.value.response["Error"]["Message"]

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as missing_queue:
        lam.create_event_source_mapping(EventSourceArn=arn + "-gone", FunctionName=name)
    assert (
        "AWS.SimpleQueueService.NonExistentQueue"
        in missing_queue.value.response["Error"]["Message"]
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as missing_function:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="no-such-fn")
    assert missing_function.value.response["Error"]["Message"] == "Function does not exist"

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as window:
        lam.update_event_source_mapping(UUID=first["UUID"], BatchSize=100)
    assert (
        "Maximum batch window in seconds must be greater than 0"
        in window.value.response["Error"]["Message"]
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as stream:
        lam.update_event_source_mapping(UUID=first["UUID"], MaximumRetryAttempts=2)
    assert "Unsupported MaximumRetryAttempts parameter" in stream.value.response["Error"]["Message"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as unknown:
        lam.get_event_source_mapping(UUID=str(uuid.uuid4()))
    assert status_of(unknown.value) == 404
    assert unknown.value.response["Error"]["Message"] == (
        "The resource you requested does not exist."
    )


def test_a_mapping_is_updated_disabled_listed_and_deleted(lam, name, queue):
    _url, arn = queue
    create(lam, name)
    uuid_ = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    updated = lam.update_event_source_mapping(
        UUID=uuid_,
        BatchSize=100,
        MaximumBatchingWindowInSeconds=5,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": '{"body": {"type": ["order"]}}'}]},
    )
    assert updated["State"] == "Updating"
    assert (updated["BatchSize"], updated["MaximumBatchingWindowInSeconds"]) == (100, 5)
    assert updated["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert updated["FilterCriteria"]["Filters"][0]["Pattern"] == '{"body": {"type": ["order"]}}'
    assert lam.update_event_source_mapping(UUID=uuid_, Enabled=False)["State"] == "Disabling"
    assert lam.get_event_source_mapping(UUID=uuid_)["State"] == "Disabled"
    assert lam.update_event_source_mapping(UUID=uuid_, Enabled=True)["State"] == "Enabling"

    listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid_]
    deleted = lam.delete_event_source_mapping(UUID=uuid_)
    assert deleted["State"] == "Deleting"
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_event_source_mapping(UUID=uuid_)


def test_an_unsigned_lambda_call_gets_a_json_error_not_a_page(live_server_url):
    request = urllib.request.Request(live_server_url + "/2015-03-31/functions")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    assert raised.value.code == 403
    assert raised.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationToken"
    assert json.loads(raised.value.read())["message"] == "Request is missing Authentication Token"


# --- real code, run by the live stack's worker ----------------------------------------

PRODUCER = """
import os
import boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    sent = sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=event["order"])
    print("sent", sent["MessageId"])
    return {"MessageId": sent["MessageId"]}
"""

# The seed's fix without ReportBatchItemFailures: delete the successes in code, then fail.
DELETES_ITS_SUCCESSES = """
import os
import boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    poison = []
    for record in event["Records"]:
        if "poison" in record["body"]:
            poison.append(record["messageId"])
        else:
            sqs.delete_message(QueueUrl=os.environ["QUEUE_URL"],
                               ReceiptHandle=record["receiptHandle"])
    if poison:
        raise RuntimeError(f"{len(poison)} records contained poison")
"""


def create_code(lam, name: str, source: str, **environment):
    return lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zipped(source)},
        Timeout=2,
        Environment={"Variables": environment},
    )


def test_a_producer_function_sends_to_sqs_with_boto3(lam, sqs, name, queue):
    url, _arn = queue
    create_code(lam, name, PRODUCER, QUEUE_URL=url)
    answer = lam.invoke(FunctionName=name, Payload=b'{"order": "order #1"}', LogType="Tail")
    assert "FunctionError" not in answer, answer["Payload"].read()
    message_id = json.loads(answer["Payload"].read())["MessageId"]
    assert f"sent {message_id}" in base64.b64decode(answer["LogResult"]).decode()
    [received] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert (received["MessageId"], received["Body"]) == (message_id, "order #1")


def test_a_consumer_that_deletes_its_successes_leaves_only_the_poison_to_return(lam, sqs, name):
    url = sqs.create_queue(
        QueueName=f"partial-{uuid.uuid4().hex[:10]}", Attributes={"VisibilityTimeout": "2"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bodies = ["ok 1", "ok 2", "poison 3", "ok 4", "poison 5", "ok 6"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
    )
    create_code(lam, name, DELETES_ITS_SUCCESSES, QUEUE_URL=url)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=6)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if sum(map(int, counts.values())) == 2:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the successes were not deleted: {counts}")
    peeked = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{url.split('/000000000000/')[0]}/_aws/sqs/messages?QueueUrl={url}"
                "&ShowInvisible=true",
                headers={"Accept": "application/json"},
            )
        ).read()
    )
    left = sorted(
        m["Body"] for m in peeked["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"]
    )
    assert left == ["poison 3", "poison 5"]


def test_moving_a_mapping_onto_a_pair_already_mapped_is_a_conflict(lam, name, queue):
    _url, arn = queue
    create(lam, name)
    create(lam, name + "-b")
    first = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name + "-b")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.update_event_source_mapping(UUID=first, FunctionName=name + "-b")
    assert lam.get_event_source_mapping(UUID=first)["FunctionArn"].endswith(f":{name}")


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda c, name: c.invoke(FunctionName=name, Payload=b'{"n": NaN}'),
            "InvalidRequestContentException",
        ),
        (lambda c, name: c.list_functions(Marker="LTU="), "InvalidParameterValueException"),
        (
            lambda c, name: c.create_function(
                FunctionName=name + "-2",
                Runtime="python3.12",
                Role="arn:aws:iam::000000000000:role/" + "r" * 300,
                Handler="index.handler",
                Code={"ZipFile": zipped()},
            ),
            "ValidationException",
        ),
    ],
    ids=["nan-payload", "negative-marker", "long-role"],
)
def test_malformed_lambda_requests_get_a_400_not_a_500(unchecked, lam, name, call, code):
    create(lam, name)
    error = error_of(call, unchecked, name)
    assert (error["Code"], error["status"]) == (code, 400)
