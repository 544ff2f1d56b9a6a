"""One workspace's credentials never reach another's resources (DESIGN.md, "Who sees what").

Two learner workspaces on the live server, A and B, each with its own account and
keys. B calls every action of SQS, SNS, Lambda and KMS with A's identifiers: queue
URLs and ARNs (also inside a RedrivePolicy, a subscription's endpoint, an event
source), receipt handles, move task handles, topic and subscription ARNs, function
names and ARNs, event source mapping UUIDs, key ids, key ARNs, aliases.

The playground keeps each account sealed: to B, A's resource is one that does not
exist, and B gets what AWS answers for a missing one (QueueDoesNotExist, NotFound,
ResourceNotFoundException, NotFoundException; InvalidParameter where the name sits
inside another parameter; success where AWS's delete of a missing resource
succeeds). Whatever B sends, A's resources read the same afterwards.

The tables name every action of `broker/api/services.py`; an action added there
without an entry here fails `test_every_action_of_every_service_is_tried`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from broker.api import services
from tests.broker.api import wire
from tests.broker.api.conftest import Account, open_account
from tests.broker.api.test_lambda_api import zipped

# --- two workspaces -----------------------------------------------------------------


def _arn(service: str, account: Account, resource: str) -> str:
    return f"arn:aws:{service}:us-east-1:{account.account_id}:{resource}"


@dataclass(frozen=True)
class Resources:
    """One workspace's resources, by the identifiers its owner uses."""

    queue_url: str
    queue_arn: str
    queue_name: str
    dlq_url: str
    dlq_arn: str
    receipt_handle: str  # of a message in flight in the queue
    topic_arn: str
    subscription_arn: str
    function_name: str
    function_arn: str
    mapping_uuid: str
    key_id: str
    key_arn: str
    alias: str
    disabled_key_id: str
    move_task: str = ""  # a running message move task of the DLQ (A only)
    phone: str = ""  # a phone number that replied STOP (A only)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _build(account: Account, *, running_task: bool) -> Resources:
    """A queue with a dead-letter queue, a message in flight and one visible, a topic
    with a subscription, a function behind a trigger, KMS keys and an alias."""
    sqs, sns, lam, kms = account.sqs, account.sns, account.lam, account.kms
    dlq_name = _unique("dlq")
    dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    dlq_arn = _arn("sqs", account, dlq_name)
    name = _unique("orders")
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
        },
        tags={"team": "owner"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="in flight")
    [received] = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=3600)["Messages"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="visible")
    move_task = ""
    if running_task:
        for body in ("dead 1", "dead 2"):
            sqs.send_message(QueueUrl=dlq_url, MessageBody=body)
        move_task = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)[
            "TaskHandle"
        ]

    topic_arn = sns.create_topic(
        Name=_unique("news"),
        Attributes={"DisplayName": "owner"},
        Tags=[{"Key": "team", "Value": "owner"}],
    )["TopicArn"]
    subscription_arn = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=_arn("sqs", account, name),
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]

    function_name = _unique("fn")
    function_arn = lam.create_function(
        FunctionName=function_name,
        Runtime="python3.12",
        Role=f"arn:aws:iam::{account.account_id}:role/consumer",
        Handler="index.handler",
        Code={"ZipFile": zipped()},
        Environment={"Variables": {"PLAYGROUND_DURATION": "0.1"}},
    )["FunctionArn"]
    lam.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=2)
    mapped_name = _unique("mapped")
    sqs.create_queue(QueueName=mapped_name)
    mapping_uuid = lam.create_event_source_mapping(
        EventSourceArn=_arn("sqs", account, mapped_name),
        FunctionName=function_name,
        Enabled=False,  # nothing polls: the queues stay as they are
    )["UUID"]

    key = kms.create_key(Description="owner's key")["KeyMetadata"]
    alias = f"alias/{_unique('key')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    disabled = kms.create_key(Description="owner's disabled key")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)

    return Resources(
        queue_url=queue_url,
        queue_arn=_arn("sqs", account, name),
        queue_name=name,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        receipt_handle=received["ReceiptHandle"],
        topic_arn=topic_arn,
        subscription_arn=subscription_arn,
        function_name=function_name,
        function_arn=function_arn,
        mapping_uuid=mapping_uuid,
        key_id=key["KeyId"],
        key_arn=key["Arn"],
        alias=alias,
        disabled_key_id=disabled,
        move_task=move_task,
    )


@pytest.fixture(scope="module")
def a(live_server_url) -> Account:
    return open_account(live_server_url)


@pytest.fixture(scope="module")
def b(live_server_url) -> Account:
    return open_account(live_server_url)


@pytest.fixture(scope="module")
def a_res(a) -> Resources:
    """A's resources, under a paused clock: nothing moves, expires or reappears on its
    own, so any change is somebody's call."""
    assert a.page.post("clock/", action="pause") == 200
    resources = _build(a, running_task=True)
    phone = "+15550100001"
    assert a.page.post(f"inboxes/sms/{quote(phone)}/opt-out/", opted_out="true") == 200
    a.sns.set_sms_attributes(attributes={"DefaultSenderID": "OWNER"})
    return Resources(**{**resources.__dict__, "phone": phone})


@pytest.fixture(scope="module")
def b_res(b) -> Resources:
    return _build(b, running_task=False)


# --- what A's resources look like -------------------------------------------------------


def _without_metadata(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def a_state(a: Account, res: Resources, part: str) -> dict:
    """What A reads of one part of its resources."""
    if part == "sqs":
        return {
            "queue": a.sqs.get_queue_attributes(QueueUrl=res.queue_url, AttributeNames=["All"])[
                "Attributes"
            ],
            "dlq": a.sqs.get_queue_attributes(QueueUrl=res.dlq_url, AttributeNames=["All"])[
                "Attributes"
            ],
            "tags": a.sqs.list_queue_tags(QueueUrl=res.queue_url).get("Tags"),
            "queues": sorted(a.sqs.list_queues().get("QueueUrls", [])),
            "tasks": a.sqs.list_message_move_tasks(SourceArn=res.dlq_arn)["Results"],
        }
    if part == "sns":
        return {
            "topic": a.sns.get_topic_attributes(TopicArn=res.topic_arn)["Attributes"],
            "tags": a.sns.list_tags_for_resource(ResourceArn=res.topic_arn)["Tags"],
            "subscriptions": a.sns.list_subscriptions_by_topic(TopicArn=res.topic_arn)[
                "Subscriptions"
            ],
            "subscription": a.sns.get_subscription_attributes(SubscriptionArn=res.subscription_arn)[
                "Attributes"
            ],
            "sms": a.sns.get_sms_attributes()["attributes"],
            "opted_out": a.sns.list_phone_numbers_opted_out()["phoneNumbers"],
        }
    if part == "lambda":
        return {
            "function": _without_metadata(
                a.lam.get_function_configuration(FunctionName=res.function_name)
            ),
            "concurrency": _without_metadata(
                a.lam.get_function_concurrency(FunctionName=res.function_name)
            ),
            "mapping": _without_metadata(a.lam.get_event_source_mapping(UUID=res.mapping_uuid)),
            "functions": [f["FunctionArn"] for f in a.lam.list_functions()["Functions"]],
        }
    assert part == "kms"
    return {
        "key": a.kms.describe_key(KeyId=res.key_id)["KeyMetadata"],
        "disabled": a.kms.describe_key(KeyId=res.disabled_key_id)["KeyMetadata"],
        "policy": a.kms.get_key_policy(KeyId=res.key_id, PolicyName="default")["Policy"],
        "aliases": a.kms.list_aliases()["Aliases"],
        "keys": a.kms.list_keys()["Keys"],
    }


PARTS = ("sqs", "sns", "lambda", "kms")


@pytest.fixture(scope="module")
def a_before(a, a_res) -> dict:
    """A's resources as A left them, before B tried anything."""
    return {part: a_state(a, a_res, part) for part in PARTS}


def outcome_of(call: Callable[[], dict]) -> tuple[str, int]:
    """(error code, HTTP status) of a refused call; ("OK", status) of an answered one,
    or ("Failed: <codes>", status) when a batch answered with failed entries."""
    try:
        answer = call()
    except ClientError as error:
        response = error.response
        return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
    status = answer["ResponseMetadata"]["HTTPStatusCode"]
    failed = sorted({entry["Code"] for entry in answer.get("Failed") or []})
    return ("Failed: " + ",".join(failed) if failed else "OK"), status


# --- the tables: every action, with A's identifiers -----------------------------------


@dataclass(frozen=True)
class Attempt:
    """B calls `action` naming A's resource (`what`); AWS's answer is `expected`."""

    service: str
    action: str
    what: str
    call: Callable[[Account, Resources, Resources], dict]  # (B, A's, B's own)
    expected: tuple[str, int]

    @property
    def id(self) -> str:
        return f"{self.service}:{self.action}:{self.what}"


NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", 400)
BAD_HANDLE = ("ReceiptHandleIsInvalid", 400)
SQS_NOT_FOUND = ("ResourceNotFoundException", 404)
SQS_INVALID = ("InvalidParameterValue", 400)
OK = ("OK", 200)


def _sqs(action, what, call, expected=NO_QUEUE) -> Attempt:
    return Attempt("sqs", action, what, call, expected)


def _redrive_to(arn: str) -> dict:
    return {"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})}


SQS_ATTEMPTS = [
    _sqs(
        "CreateQueue",
        "dead-letter queue ARN",
        lambda b, a, own: b.sqs.create_queue(
            QueueName=_unique("with-foreign-dlq"), Attributes=_redrive_to(a.dlq_arn)
        ),
        SQS_INVALID,
    ),
    _sqs(
        "GetQueueUrl",
        "queue name and owner",
        lambda b, a, own: b.sqs.get_queue_url(
            QueueName=a.queue_name, QueueOwnerAWSAccountId=a.queue_arn.split(":")[4]
        ),
    ),
    _sqs(
        "GetQueueUrl", "queue name", lambda b, a, own: b.sqs.get_queue_url(QueueName=a.queue_name)
    ),
    _sqs("DeleteQueue", "queue URL", lambda b, a, own: b.sqs.delete_queue(QueueUrl=a.queue_url)),
    _sqs(
        "GetQueueAttributes",
        "queue URL",
        lambda b, a, own: b.sqs.get_queue_attributes(QueueUrl=a.queue_url, AttributeNames=["All"]),
    ),
    _sqs(
        "SetQueueAttributes",
        "queue URL",
        lambda b, a, own: b.sqs.set_queue_attributes(
            QueueUrl=a.queue_url, Attributes={"VisibilityTimeout": "0"}
        ),
    ),
    _sqs(
        "SetQueueAttributes",
        "dead-letter queue ARN",
        lambda b, a, own: b.sqs.set_queue_attributes(
            QueueUrl=own.queue_url, Attributes=_redrive_to(a.dlq_arn)
        ),
        SQS_INVALID,
    ),
    _sqs(
        "SendMessage",
        "queue URL",
        lambda b, a, own: b.sqs.send_message(QueueUrl=a.queue_url, MessageBody="intruder"),
    ),
    _sqs(
        "SendMessageBatch",
        "queue URL",
        lambda b, a, own: b.sqs.send_message_batch(
            QueueUrl=a.queue_url, Entries=[{"Id": "1", "MessageBody": "intruder"}]
        ),
    ),
    _sqs(
        "ReceiveMessage",
        "queue URL",
        lambda b, a, own: b.sqs.receive_message(QueueUrl=a.queue_url, WaitTimeSeconds=0),
    ),
    _sqs(
        "DeleteMessage",
        "queue URL and receipt handle",
        lambda b, a, own: b.sqs.delete_message(
            QueueUrl=a.queue_url, ReceiptHandle=a.receipt_handle
        ),
    ),
    _sqs(
        "DeleteMessage",
        "receipt handle",
        lambda b, a, own: b.sqs.delete_message(
            QueueUrl=own.queue_url, ReceiptHandle=a.receipt_handle
        ),
        BAD_HANDLE,
    ),
    _sqs(
        "DeleteMessageBatch",
        "queue URL and receipt handle",
        lambda b, a, own: b.sqs.delete_message_batch(
            QueueUrl=a.queue_url, Entries=[{"Id": "1", "ReceiptHandle": a.receipt_handle}]
        ),
    ),
    _sqs(
        "DeleteMessageBatch",
        "receipt handle",
        lambda b, a, own: b.sqs.delete_message_batch(
            QueueUrl=own.queue_url, Entries=[{"Id": "1", "ReceiptHandle": a.receipt_handle}]
        ),
        ("Failed: ReceiptHandleIsInvalid", 200),
    ),
    _sqs(
        "ChangeMessageVisibility",
        "queue URL and receipt handle",
        lambda b, a, own: b.sqs.change_message_visibility(
            QueueUrl=a.queue_url, ReceiptHandle=a.receipt_handle, VisibilityTimeout=0
        ),
    ),
    _sqs(
        "ChangeMessageVisibility",
        "receipt handle",
        lambda b, a, own: b.sqs.change_message_visibility(
            QueueUrl=own.queue_url, ReceiptHandle=a.receipt_handle, VisibilityTimeout=0
        ),
        BAD_HANDLE,
    ),
    _sqs(
        "ChangeMessageVisibilityBatch",
        "queue URL and receipt handle",
        lambda b, a, own: b.sqs.change_message_visibility_batch(
            QueueUrl=a.queue_url,
            Entries=[{"Id": "1", "ReceiptHandle": a.receipt_handle, "VisibilityTimeout": 0}],
        ),
    ),
    _sqs(
        "ChangeMessageVisibilityBatch",
        "receipt handle",
        lambda b, a, own: b.sqs.change_message_visibility_batch(
            QueueUrl=own.queue_url,
            Entries=[{"Id": "1", "ReceiptHandle": a.receipt_handle, "VisibilityTimeout": 0}],
        ),
        ("Failed: ReceiptHandleIsInvalid", 200),
    ),
    _sqs("PurgeQueue", "queue URL", lambda b, a, own: b.sqs.purge_queue(QueueUrl=a.queue_url)),
    _sqs(
        "TagQueue",
        "queue URL",
        lambda b, a, own: b.sqs.tag_queue(QueueUrl=a.queue_url, Tags={"team": "intruder"}),
    ),
    _sqs(
        "UntagQueue",
        "queue URL",
        lambda b, a, own: b.sqs.untag_queue(QueueUrl=a.queue_url, TagKeys=["team"]),
    ),
    _sqs(
        "ListQueueTags", "queue URL", lambda b, a, own: b.sqs.list_queue_tags(QueueUrl=a.queue_url)
    ),
    _sqs(
        "ListDeadLetterSourceQueues",
        "dead-letter queue URL",
        lambda b, a, own: b.sqs.list_dead_letter_source_queues(QueueUrl=a.dlq_url),
    ),
    _sqs(
        "AddPermission",
        "queue URL",
        lambda b, a, own: b.sqs.add_permission(
            QueueUrl=a.queue_url,
            Label="intruder",
            AWSAccountIds=[own.queue_arn.split(":")[4]],
            Actions=["SendMessage"],
        ),
    ),
    _sqs(
        "RemovePermission",
        "queue URL",
        lambda b, a, own: b.sqs.remove_permission(QueueUrl=a.queue_url, Label="intruder"),
    ),
    _sqs(
        "StartMessageMoveTask",
        "source ARN",
        lambda b, a, own: b.sqs.start_message_move_task(SourceArn=a.dlq_arn),
        SQS_NOT_FOUND,
    ),
    _sqs(
        "StartMessageMoveTask",
        "destination ARN",
        lambda b, a, own: b.sqs.start_message_move_task(
            SourceArn=own.dlq_arn, DestinationArn=a.queue_arn
        ),
        SQS_NOT_FOUND,
    ),
    _sqs(
        "ListMessageMoveTasks",
        "source ARN",
        lambda b, a, own: b.sqs.list_message_move_tasks(SourceArn=a.dlq_arn),
        SQS_NOT_FOUND,
    ),
    _sqs(
        "CancelMessageMoveTask",
        "task handle",
        lambda b, a, own: b.sqs.cancel_message_move_task(TaskHandle=a.move_task),
        SQS_NOT_FOUND,
    ),
]

TOPIC_NOT_FOUND = ("NotFound", 404)
SNS_INVALID = ("InvalidParameter", 400)


def _sns(action, what, call, expected=TOPIC_NOT_FOUND) -> Attempt:
    return Attempt("sns", action, what, call, expected)


SNS_ATTEMPTS = [
    # Deleting what does not exist succeeds on AWS: B's delete deletes nothing of A's.
    _sns(
        "DeleteTopic", "topic ARN", lambda b, a, own: b.sns.delete_topic(TopicArn=a.topic_arn), OK
    ),
    _sns(
        "GetTopicAttributes",
        "topic ARN",
        lambda b, a, own: b.sns.get_topic_attributes(TopicArn=a.topic_arn),
    ),
    _sns(
        "SetTopicAttributes",
        "topic ARN",
        lambda b, a, own: b.sns.set_topic_attributes(
            TopicArn=a.topic_arn, AttributeName="DisplayName", AttributeValue="intruder"
        ),
    ),
    _sns(
        "AddPermission",
        "topic ARN",
        lambda b, a, own: b.sns.add_permission(
            TopicArn=a.topic_arn,
            Label="intruder",
            AWSAccountId=[own.topic_arn.split(":")[4]],
            ActionName=["Publish"],
        ),
    ),
    _sns(
        "RemovePermission",
        "topic ARN",
        lambda b, a, own: b.sns.remove_permission(TopicArn=a.topic_arn, Label="intruder"),
    ),
    _sns(
        "TagResource",
        "topic ARN",
        lambda b, a, own: b.sns.tag_resource(
            ResourceArn=a.topic_arn, Tags=[{"Key": "team", "Value": "intruder"}]
        ),
        ("ResourceNotFound", 404),
    ),
    _sns(
        "UntagResource",
        "topic ARN",
        lambda b, a, own: b.sns.untag_resource(ResourceArn=a.topic_arn, TagKeys=["team"]),
        ("ResourceNotFound", 404),
    ),
    _sns(
        "ListTagsForResource",
        "topic ARN",
        lambda b, a, own: b.sns.list_tags_for_resource(ResourceArn=a.topic_arn),
        ("ResourceNotFound", 404),
    ),
    _sns(
        "Subscribe",
        "topic ARN",
        lambda b, a, own: b.sns.subscribe(
            TopicArn=a.topic_arn, Protocol="sqs", Endpoint=own.queue_arn
        ),
    ),
    _sns(
        "Subscribe",
        "queue ARN as the endpoint",
        lambda b, a, own: b.sns.subscribe(
            TopicArn=own.topic_arn, Protocol="sqs", Endpoint=a.queue_arn
        ),
        SNS_INVALID,
    ),
    _sns(
        "Subscribe",
        "function ARN as the endpoint",
        lambda b, a, own: b.sns.subscribe(
            TopicArn=own.topic_arn, Protocol="lambda", Endpoint=a.function_arn
        ),
        SNS_INVALID,
    ),
    _sns(
        "Subscribe",
        "dead-letter queue ARN",
        lambda b, a, own: b.sns.subscribe(
            TopicArn=own.topic_arn,
            Protocol="sqs",
            Endpoint=own.dlq_arn,
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": a.dlq_arn})},
        ),
        SNS_INVALID,
    ),
    _sns(
        "ConfirmSubscription",
        "topic ARN",
        lambda b, a, own: b.sns.confirm_subscription(TopicArn=a.topic_arn, Token="0" * 64),
    ),
    _sns(
        "ListSubscriptionsByTopic",
        "topic ARN",
        lambda b, a, own: b.sns.list_subscriptions_by_topic(TopicArn=a.topic_arn),
    ),
    _sns(
        "Publish",
        "topic ARN",
        lambda b, a, own: b.sns.publish(TopicArn=a.topic_arn, Message="intruder"),
    ),
    _sns(
        "Publish",
        "target ARN",
        lambda b, a, own: b.sns.publish(TargetArn=a.topic_arn, Message="intruder"),
    ),
    _sns(
        "PublishBatch",
        "topic ARN",
        lambda b, a, own: b.sns.publish_batch(
            TopicArn=a.topic_arn,
            PublishBatchRequestEntries=[{"Id": "1", "Message": "intruder"}],
        ),
    ),
    _sns(
        "Unsubscribe",
        "subscription ARN",
        lambda b, a, own: b.sns.unsubscribe(SubscriptionArn=a.subscription_arn),
        OK,
    ),
    _sns(
        "GetSubscriptionAttributes",
        "subscription ARN",
        lambda b, a, own: b.sns.get_subscription_attributes(SubscriptionArn=a.subscription_arn),
    ),
    _sns(
        "SetSubscriptionAttributes",
        "subscription ARN",
        lambda b, a, own: b.sns.set_subscription_attributes(
            SubscriptionArn=a.subscription_arn,
            AttributeName="RawMessageDelivery",
            AttributeValue="true",
        ),
    ),
    _sns(
        "SetSubscriptionAttributes",
        "dead-letter queue ARN",
        lambda b, a, own: b.sns.set_subscription_attributes(
            SubscriptionArn=own.subscription_arn,
            AttributeName="RedrivePolicy",
            AttributeValue=json.dumps({"deadLetterTargetArn": a.dlq_arn}),
        ),
        SNS_INVALID,
    ),
]

NO_FUNCTION = ("ResourceNotFoundException", 404)
LAMBDA_INVALID = ("InvalidParameterValueException", 400)

# A function as Lambda lets a caller name it: its name, its ARN, a partial ARN.
FUNCTION_REFS = {
    "function name": lambda a: a.function_name,
    "function ARN": lambda a: a.function_arn,
    "partial function ARN": lambda a: a.function_arn.split(":", 4)[4],
}
FUNCTION_ACTIONS = {
    "GetFunction": lambda b, ref: b.lam.get_function(FunctionName=ref),
    "GetFunctionConfiguration": lambda b, ref: b.lam.get_function_configuration(FunctionName=ref),
    "UpdateFunctionConfiguration": lambda b, ref: b.lam.update_function_configuration(
        FunctionName=ref, Timeout=9
    ),
    "UpdateFunctionCode": lambda b, ref: b.lam.update_function_code(
        FunctionName=ref, ZipFile=zipped()
    ),
    "DeleteFunction": lambda b, ref: b.lam.delete_function(FunctionName=ref),
    "Invoke": lambda b, ref: b.lam.invoke(FunctionName=ref, Payload=b"{}"),
    "PutFunctionConcurrency": lambda b, ref: b.lam.put_function_concurrency(
        FunctionName=ref, ReservedConcurrentExecutions=0
    ),
    "GetFunctionConcurrency": lambda b, ref: b.lam.get_function_concurrency(FunctionName=ref),
    "DeleteFunctionConcurrency": lambda b, ref: b.lam.delete_function_concurrency(FunctionName=ref),
    "ListEventSourceMappings": lambda b, ref: b.lam.list_event_source_mappings(FunctionName=ref),
}


def _on_function(action: str, ref: str) -> Callable:
    return lambda b, a, own: FUNCTION_ACTIONS[action](b, FUNCTION_REFS[ref](a))


def _lambda(action, what, call, expected=NO_FUNCTION) -> Attempt:
    return Attempt("lambda", action, what, call, expected)


LAMBDA_ATTEMPTS = [
    *(
        _lambda(action, ref, _on_function(action, ref))
        for action in FUNCTION_ACTIONS
        for ref in FUNCTION_REFS
    ),
    _lambda(
        "CreateEventSourceMapping",
        "queue ARN",
        lambda b, a, own: b.lam.create_event_source_mapping(
            EventSourceArn=a.queue_arn, FunctionName=own.function_name
        ),
        LAMBDA_INVALID,
    ),
    _lambda(
        "CreateEventSourceMapping",
        "function ARN",
        lambda b, a, own: b.lam.create_event_source_mapping(
            EventSourceArn=own.queue_arn, FunctionName=a.function_arn
        ),
        LAMBDA_INVALID,
    ),
    _lambda(
        "GetEventSourceMapping",
        "mapping UUID",
        lambda b, a, own: b.lam.get_event_source_mapping(UUID=a.mapping_uuid),
    ),
    _lambda(
        "UpdateEventSourceMapping",
        "mapping UUID",
        lambda b, a, own: b.lam.update_event_source_mapping(UUID=a.mapping_uuid, Enabled=True),
    ),
    _lambda(
        "UpdateEventSourceMapping",
        "function ARN",
        lambda b, a, own: b.lam.update_event_source_mapping(
            UUID=own.mapping_uuid, FunctionName=a.function_arn
        ),
    ),
    _lambda(
        "DeleteEventSourceMapping",
        "mapping UUID",
        lambda b, a, own: b.lam.delete_event_source_mapping(UUID=a.mapping_uuid),
    ),
]

NO_KEY = ("NotFoundException", 400)

# A key as KMS lets a caller name it: its id, its ARN, an alias, the alias's ARN.
KEY_REFS = {
    "key id": lambda a: a.key_id,
    "key ARN": lambda a: a.key_arn,
    "alias name": lambda a: a.alias,
    "alias ARN": lambda a: a.key_arn.rsplit(":", 1)[0] + ":" + a.alias,
    "disabled key id": lambda a: a.disabled_key_id,
}
KEY_ACTIONS = {
    "DescribeKey": lambda b, ref: b.kms.describe_key(KeyId=ref),
    "DisableKey": lambda b, ref: b.kms.disable_key(KeyId=ref),
    "EnableKey": lambda b, ref: b.kms.enable_key(KeyId=ref),
    "GetKeyPolicy": lambda b, ref: b.kms.get_key_policy(KeyId=ref, PolicyName="default"),
    "PutKeyPolicy": lambda b, ref: b.kms.put_key_policy(
        KeyId=ref,
        PolicyName="default",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            }
        ),
    ),
    "CreateAlias": lambda b, ref: b.kms.create_alias(
        AliasName=f"alias/{_unique('stolen')}", TargetKeyId=ref
    ),
}


def _on_key(action: str, ref: str) -> Callable:
    return lambda b, a, own: KEY_ACTIONS[action](b, KEY_REFS[ref](a))


KMS_ATTEMPTS = [
    Attempt("kms", action, ref, _on_key(action, ref), NO_KEY)
    for action in KEY_ACTIONS
    for ref in KEY_REFS
]

ATTEMPTS = {
    "sqs": SQS_ATTEMPTS,
    "sns": SNS_ATTEMPTS,
    "lambda": LAMBDA_ATTEMPTS,
    "kms": KMS_ATTEMPTS,
}

# The actions that name no resource: they act on the caller's own account only
# (tested below: what they answer holds nothing of A's, what they make is B's).
ACCOUNT_ACTIONS = {
    "sqs": {"CreateQueue", "ListQueues"},
    "sns": {
        "CreateTopic",
        "ListTopics",
        "ListSubscriptions",
        "CheckIfPhoneNumberIsOptedOut",
        "ListPhoneNumbersOptedOut",
        "OptInPhoneNumber",
        "GetSMSAttributes",
        "SetSMSAttributes",
    },
    "lambda": {"CreateFunction", "ListFunctions", "ListEventSourceMappings"},
    "kms": {"CreateKey", "ListKeys", "ListAliases"},
}


def test_every_action_of_every_service_is_tried():
    """A new action of a service needs a row here: with A's identifiers, or as an
    action on the caller's own account."""
    for service in services.SERVICES:
        tried = {attempt.action for attempt in ATTEMPTS[service.name]}
        assert set(service.actions) <= tried | ACCOUNT_ACTIONS[service.name], service.name
        assert tried <= set(service.actions), service.name


# The reading actions: their owner may try them too, and must succeed.
READING = {
    "GetQueueUrl",
    "GetQueueAttributes",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    "GetTopicAttributes",
    "ListTagsForResource",
    "ListSubscriptionsByTopic",
    "GetSubscriptionAttributes",
    "GetFunction",
    "GetFunctionConfiguration",
    "GetFunctionConcurrency",
    "ListEventSourceMappings",
    "GetEventSourceMapping",
    "DescribeKey",
    "GetKeyPolicy",
}


@pytest.mark.parametrize(
    "attempt",
    [
        attempt
        for attempts in ATTEMPTS.values()
        for attempt in attempts
        if attempt.action in READING
    ],
    ids=lambda attempt: attempt.id,
)
def test_the_identifiers_tried_are_live_for_their_owner(attempt, a, a_res):
    """A's own keys read what B's cannot: the refusals below are about who asks."""
    assert outcome_of(lambda: attempt.call(a, a_res, a_res)) == OK


def _check(attempt: Attempt, a, b, a_res, b_res, a_before) -> None:
    assert outcome_of(lambda: attempt.call(b, a_res, b_res)) == attempt.expected
    assert a_state(a, a_res, attempt.service) == a_before[attempt.service]


@pytest.mark.parametrize("attempt", SQS_ATTEMPTS, ids=lambda attempt: attempt.id)
def test_another_workspaces_queue_is_not_found(attempt, a, b, a_res, b_res, a_before):
    _check(attempt, a, b, a_res, b_res, a_before)


@pytest.mark.parametrize("attempt", SNS_ATTEMPTS, ids=lambda attempt: attempt.id)
def test_another_workspaces_topic_and_subscription_are_not_found(
    attempt, a, b, a_res, b_res, a_before
):
    _check(attempt, a, b, a_res, b_res, a_before)


@pytest.mark.parametrize("attempt", LAMBDA_ATTEMPTS, ids=lambda attempt: attempt.id)
def test_another_workspaces_function_and_mapping_are_not_found(
    attempt, a, b, a_res, b_res, a_before
):
    _check(attempt, a, b, a_res, b_res, a_before)


@pytest.mark.parametrize("attempt", KMS_ATTEMPTS, ids=lambda attempt: attempt.id)
def test_another_workspaces_key_is_not_found(attempt, a, b, a_res, b_res, a_before):
    _check(attempt, a, b, a_res, b_res, a_before)


# --- identifiers inside B's own resources -------------------------------------------------


def _handle_parts(handle: str) -> list[str]:
    token = handle.removeprefix("AQEB")
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")


def test_a_receipt_handle_forged_for_ones_own_queue_does_not_reach_another_workspaces_message(
    a, b, a_res, b_res, a_before
):
    """A handle naming B's queue but A's message (what a guesser would try) finds no
    message in B's queue: the delete deletes nothing, the visibility change is refused."""
    [b_queue, _, _] = _handle_parts(b_res.receipt_handle)
    [_, a_message, a_nonce] = _handle_parts(a_res.receipt_handle)
    raw = f"{b_queue}:{a_message}:{a_nonce}".encode()
    forged = "AQEB" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    visibility = outcome_of(
        lambda: b.sqs.change_message_visibility(
            QueueUrl=b_res.queue_url, ReceiptHandle=forged, VisibilityTimeout=0
        )
    )
    assert visibility == SQS_INVALID
    # A message that is gone is deleted without an error, as on AWS: nothing of A's is.
    assert (
        outcome_of(lambda: b.sqs.delete_message(QueueUrl=b_res.queue_url, ReceiptHandle=forged))
        == OK
    )
    assert a_state(a, a_res, "sqs") == a_before["sqs"]


def test_a_queue_encrypted_with_another_workspaces_key_cannot_send(a, b, a_res, b_res, a_before):
    """B may name A's key as its queue's KmsMasterKeyId (SQS checks the key at the first
    send, as AWS does), but the send finds no such key."""
    url = b.sqs.create_queue(
        QueueName=_unique("sealed"), Attributes={"KmsMasterKeyId": a_res.key_arn}
    )["QueueUrl"]
    # sqs.md §11: the query code of SQS's Kms* errors is their own name.
    assert outcome_of(lambda: b.sqs.send_message(QueueUrl=url, MessageBody="x")) == (
        "KmsNotFound",
        400,
    )
    assert a_state(a, a_res, "kms") == a_before["kms"]


def test_a_topic_encrypted_with_another_workspaces_key_cannot_publish(a, b, a_res, b_res, a_before):
    topic = b.sns.create_topic(
        Name=_unique("sealed"), Attributes={"KmsMasterKeyId": a_res.key_arn}
    )["TopicArn"]
    assert outcome_of(lambda: b.sns.publish(TopicArn=topic, Message="x")) == ("KMSNotFound", 400)
    assert a_state(a, a_res, "kms") == a_before["kms"]


# --- actions on one's own account ---------------------------------------------------------


def _mentions(answer: dict, account: Account) -> bool:
    return account.account_id in json.dumps(answer, default=str)


def test_listings_hold_nothing_of_another_workspace(a, b, a_res, b_res):
    answers = {
        "ListQueues": b.sqs.list_queues(),
        "ListQueues prefix": b.sqs.list_queues(QueueNamePrefix=a_res.queue_name[:6]),
        "ListTopics": b.sns.list_topics(),
        "ListSubscriptions": b.sns.list_subscriptions(),
        "ListFunctions": b.lam.list_functions(),
        "ListEventSourceMappings": b.lam.list_event_source_mappings(),
        "ListEventSourceMappings queue": b.lam.list_event_source_mappings(
            EventSourceArn=a_res.queue_arn
        ),
        "ListKeys": b.kms.list_keys(),
        "ListAliases": b.kms.list_aliases(),
    }
    assert [name for name, answer in answers.items() if _mentions(answer, a)] == []
    assert answers["ListEventSourceMappings queue"]["EventSourceMappings"] == []
    assert a_res.alias not in json.dumps(answers["ListAliases"])
    assert b_res.alias in json.dumps(answers["ListAliases"])  # B's own are there


def test_the_sms_settings_and_opt_outs_are_each_accounts_own(a, b, a_res, a_before):
    assert b.sns.check_if_phone_number_is_opted_out(phoneNumber=a_res.phone)["isOptedOut"] is False
    assert b.sns.list_phone_numbers_opted_out()["phoneNumbers"] == []
    assert "OWNER" not in json.dumps(b.sns.get_sms_attributes()["attributes"])
    b.sns.opt_in_phone_number(phoneNumber=a_res.phone)
    b.sns.set_sms_attributes(attributes={"DefaultSenderID": "INTRUDER"})
    assert a.sns.check_if_phone_number_is_opted_out(phoneNumber=a_res.phone)["isOptedOut"] is True
    assert a_state(a, a_res, "sns") == a_before["sns"]


def test_a_name_another_workspace_uses_makes_ones_own_resource(a, b, a_res, a_before):
    """Names are per account, as on AWS: B's CreateQueue, CreateTopic and CreateFunction
    with A's names make B's own, in B's account. (Deleted again at the end: the tables
    above look A's names up in B's account.)"""
    queue_url = b.sqs.create_queue(QueueName=a_res.queue_name)["QueueUrl"]
    topic_arn = b.sns.create_topic(Name=a_res.topic_arn.rsplit(":", 1)[1])["TopicArn"]
    try:
        assert queue_url.endswith(f"/{b.account_id}/{a_res.queue_name}")
        assert b.sqs.receive_message(QueueUrl=queue_url).get("Messages") is None
        assert topic_arn.split(":")[4] == b.account_id
        function = b.lam.create_function(
            FunctionName=a_res.function_name,
            Runtime="python3.12",
            Role=f"arn:aws:iam::{b.account_id}:role/consumer",
            Handler="index.handler",
            Code={"ZipFile": zipped()},
        )
        assert function["FunctionArn"].split(":")[4] == b.account_id
        assert b.kms.create_key()["KeyMetadata"]["AWSAccountId"] == b.account_id
        assert {part: a_state(a, a_res, part) for part in PARTS} == a_before
    finally:
        b.sqs.delete_queue(QueueUrl=queue_url)
        b.sns.delete_topic(TopicArn=topic_arn)
        with contextlib.suppress(b.lam.exceptions.ResourceNotFoundException):
            b.lam.delete_function(FunctionName=a_res.function_name)


# --- the wire: old SDKs' queue URL path, the developer peek -------------------------------


def test_an_old_sdks_post_to_another_workspaces_queue_url_is_not_found(a, b, a_res, a_before):
    """Old SDKs POST query requests to the queue URL itself (protocols.md §1)."""
    status, _, body = wire.query(
        a_res.queue_url,
        {"Action": "ReceiveMessage", "VisibilityTimeout": "0"},
        key=b.key,
        secret=b.secret,
    )
    assert status == 400
    assert "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in body
    assert a_state(a, a_res, "sqs") == a_before["sqs"]


def test_the_developer_peek_shows_no_other_workspaces_messages(
    live_server_url, a, b, a_res, a_before
):
    """`/_aws/sqs/messages`: signed with B's keys, or unsigned (a learner's workspace is
    not a local-convention one), A's queue does not exist."""
    path = "/_aws/sqs/messages/us-east-1/" + a_res.queue_url.split("/", 3)[3]
    signed = wire.query(
        live_server_url + "/_aws/sqs/messages",
        {"Action": "ReceiveMessage", "QueueUrl": a_res.queue_url},
        key=b.key,
        secret=b.secret,
    )
    unsigned = wire.send(live_server_url + path, method="GET", sign=False)
    for status, _, body in (signed, unsigned):
        assert status == 400
        assert "AWS.SimpleQueueService.NonExistentQueue" in body
        assert "in flight" not in body
    assert a_state(a, a_res, "sqs") == a_before["sqs"]
