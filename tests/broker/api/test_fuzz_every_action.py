"""Every action of every service, in each protocol it speaks, with parameters hypothesis
makes up: no answer is a 500, every refusal is a well-formed AWS error, and a refused
request changes nothing in the workspace (its resources, messages and timeline).

Seeded (`derandomize`): the same requests on every run. `PLAYGROUND_FUZZ_EXAMPLES`
sets how many per protocol (the suite's small budget; `bench/fuzz.py` runs thousands).
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections import Counter
from contextlib import closing
from urllib.parse import quote, urlencode

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.api import services
from tests.broker.api import wire
from tests.broker.api.conftest import open_account
from tests.broker.api.test_lambda_api import zipped
from tests.fuzzing import EXAMPLES, seeded

FUZZ = seeded(EXAMPLES)

# --- the workspace, and what a refused request must leave as it was -----------------

# A workspace's rows, by table: its own, and those of its queues and topics. The
# timeline without `api.call`: the API feed records refused calls too, by design.
STATE = {
    "events": "SELECT count(*) FROM broker_event WHERE workspace_id = %s AND kind <> 'api.call'",
    "queues": "SELECT count(*), coalesce(sum(visibility_timeout), 0) FROM broker_queue "
    "WHERE workspace_id = %s",
    "messages": "SELECT count(*), coalesce(sum(m.receive_count), 0) FROM broker_message m "
    "JOIN broker_queue q ON q.id = m.queue_id WHERE q.workspace_id = %s",
    "topics": "SELECT count(*) FROM broker_topic WHERE workspace_id = %s",
    "subscriptions": "SELECT count(*) FROM broker_subscription s "
    "JOIN broker_topic t ON t.id = s.topic_id WHERE t.workspace_id = %s",
    "functions": "SELECT count(*) FROM broker_function WHERE workspace_id = %s",
    "mappings": "SELECT count(*) FROM broker_eventsourcemapping WHERE workspace_id = %s",
    "keys": "SELECT count(*) FROM broker_kmskey WHERE workspace_id = %s",
    "aliases": "SELECT count(*) FROM broker_kmsalias WHERE workspace_id = %s",
}


class LiveDatabase:
    """The live stack's own database, read beside it (SQLite file or PostgreSQL)."""

    def __init__(self, url: str):
        self.url = url

    def rows(self, sql: str, *args) -> list[tuple]:
        if self.url.startswith("sqlite:///"):
            path = self.url.removeprefix("sqlite:///")
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
                return db.execute(sql.replace("%s", "?"), args).fetchall()
        with psycopg.connect(self.url) as db:
            return db.execute(sql, args).fetchall()

    def state(self, workspace_id: int) -> dict:
        return {name: self.rows(sql, workspace_id) for name, sql in STATE.items()} | {
            "workspaces": self.rows("SELECT count(*) FROM broker_workspace")
        }


class Fuzzed:
    """A learner's workspace with a resource of each kind for made-up requests to name."""

    def __init__(self, live_stack):
        account = open_account(live_stack.url)
        self.url, self.key, self.secret = live_stack.url, account.key, account.secret
        self.db = LiveDatabase(live_stack.env["DATABASE_URL"])
        [[self.workspace_id]] = self.db.rows(
            "SELECT id FROM broker_workspace WHERE account_id = %s", account.account_id
        )
        sqs, sns, kms, lam = account.sqs, account.sns, account.kms, account.lam
        name = f"fuzz-{uuid.uuid4().hex[:8]}"
        self.queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.fifo_url = sqs.create_queue(
            QueueName=name + ".fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        sqs.send_message(QueueUrl=self.queue_url, MessageBody="kept")
        self.queue_arn = f"arn:aws:sqs:us-east-1:{account.account_id}:{name}"
        self.topic_arn = sns.create_topic(Name=name)["TopicArn"]
        self.key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        function = lam.create_function(
            FunctionName="fn-" + name,
            Runtime="python3.12",
            Role=f"arn:aws:iam::{account.account_id}:role/fuzz",
            Handler="index.handler",
            Code={"ZipFile": zipped()},
        )["FunctionArn"]
        mapping = lam.create_event_source_mapping(
            EventSourceArn=self.queue_arn, FunctionName="fn-" + name, Enabled=False
        )["UUID"]
        self.names = [name, name + ".fifo", self.queue_url, self.fifo_url, self.queue_arn]
        self.names += [self.topic_arn, self.key_id, f"alias/{name}", "fn-" + name, function]
        self.names += [mapping]

    def state(self) -> dict:
        return self.db.state(self.workspace_id)


@pytest.fixture(scope="module")
def fuzzed(live_stack) -> Fuzzed:
    return Fuzzed(live_stack)


# --- what hypothesis makes up ---------------------------------------------------------

MEMBERS = [
    "QueueUrl", "QueueName", "MessageBody", "DelaySeconds", "Entries", "Attributes",
    "AttributeNames", "MessageAttributes", "MessageSystemAttributes", "MaxNumberOfMessages",
    "VisibilityTimeout", "WaitTimeSeconds", "ReceiptHandle", "MessageGroupId",
    "MessageDeduplicationId", "Tags", "TagKeys", "SourceArn", "DestinationArn", "TaskHandle",
    "QueueNamePrefix", "NextToken", "MaxResults", "Label", "AWSAccountIds", "Actions",
    "KeyId", "Plaintext", "CiphertextBlob", "KeySpec", "NumberOfBytes", "AliasName",
    "TargetKeyId", "Policy", "PolicyName", "Description", "KeyUsage", "EncryptionContext",
]  # fmt: skip
QUERY_KEYS = [
    "TopicArn", "Name", "Message", "Subject", "Protocol", "Endpoint", "SubscriptionArn",
    "AttributeName", "AttributeValue", "Attributes.entry.1.key", "Attributes.entry.1.value",
    "MessageAttributes.entry.1.Name", "MessageAttributes.entry.1.Value.DataType",
    "MessageAttributes.entry.1.Value.StringValue", "PublishBatchRequestEntries.member.1.Id",
    "PublishBatchRequestEntries.member.1.Message", "Tags.member.1.Key", "Tags.member.1.Value",
    "ResourceArn", "TagKeys.member.1", "phoneNumber", "attributes.entry.1.key", "Token",
    "MessageGroupId", "MessageStructure", "ReturnSubscriptionArn", "NextToken",
    "QueueUrl", "QueueName", "MessageBody", "DelaySeconds", "ReceiptHandle",
    "Attribute.1.Name", "Attribute.1.Value", "AttributeName.1", "MaxNumberOfMessages",
    "SendMessageBatchRequestEntry.1.Id", "SendMessageBatchRequestEntry.1.MessageBody",
    "DeleteMessageBatchRequestEntry.1.ReceiptHandle", "Tag.1.Key", "Tag.1.Value",
    "MessageAttribute.1.Name", "MessageAttribute.1.Value.DataType",
]  # fmt: skip
TEXT = st.text(max_size=40) | st.sampled_from(
    ["", "x", "-1", "0", "1_0", "1e3", "99999999999999999999", "true", "String", "Number",
     "Binary", "sqs", "lambda", "email", "http", "\ud800", "\x00", "<b>x</b>", "..", "%ZZ",
     "a" * 300, "AWS.x", "arn:aws:sqs:us-east-1:000000000000:x"]
)  # fmt: skip
SCALARS = (
    TEXT
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def _named(fuzzed: Fuzzed):
    """A member's value: mostly made up, sometimes a real name of the workspace."""
    return st.sampled_from(fuzzed.names) | JSON_VALUES


def json_body(fuzzed: Fuzzed):
    members = st.dictionaries(st.sampled_from(MEMBERS) | TEXT, _named(fuzzed), max_size=6)
    raw = st.binary(max_size=60) | st.sampled_from([b"", b"{", b"[]", b"null", b"[" * 700])
    return members.map(lambda body: json.dumps(body).encode()) | raw


def query_body(fuzzed: Fuzzed):
    values = st.sampled_from(fuzzed.names) | TEXT
    return st.dictionaries(st.sampled_from(QUERY_KEYS) | TEXT, values, max_size=8)


# What a header can carry (http.client sends latin-1 and refuses line breaks; a NUL
# is answered by the HTTP server itself, before the endpoint sees the request).
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)


def _actions(service: services.Service, *, in_header: bool = False) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(service.actions)) | (HEADER_TEXT if in_header else TEXT)


# --- what every answer must be --------------------------------------------------------


def check_answer(status: int, headers, body: str, *, protocol: str) -> str:
    """The answer's error code ("OK" for a success), once it is checked well-formed."""
    assert status < 500, body[:500]
    assert "Traceback" not in body and "<html" not in body.lower()
    if status < 400:
        return "OK"
    if protocol == "json":
        assert headers["Content-Type"].startswith("application/x-amz-json"), body[:200]
        code = json.loads(body)["__type"]
    elif protocol == "query":
        assert headers["Content-Type"].startswith("text/xml"), body[:200]
        assert "<ErrorResponse" in body and "<Message>" in body, body[:200]
        code = re.search(r"<Code>([^<]+)</Code>", body).group(1)
    else:  # Lambda's REST-JSON
        error = json.loads(body)
        assert "message" in error or "Message" in error, body[:200]
        code = headers["x-amzn-ErrorType"]
    assert isinstance(code, str) and code, body[:200]
    return code.rsplit("#", 1)[-1]


def assert_reached_the_actions(answers: Counter) -> None:
    """The made-up requests got past the parsers: some succeeded, many kinds refused."""
    assert answers["OK"] > 0, answers
    assert len(answers) >= 5, answers


def send_and_check(fuzzed: Fuzzed, protocol: str, answers: Counter, url="", **request) -> None:
    before = fuzzed.state()
    status, headers, body = wire.send(
        url or fuzzed.url, key=fuzzed.key, secret=fuzzed.secret, **request
    )
    answers[check_answer(status, headers, body, protocol=protocol)] += 1
    if status >= 400:
        assert fuzzed.state() == before, (request, body[:300])


# --- one test per protocol --------------------------------------------------------------


@pytest.mark.parametrize("service", [services.SQS, services.KMS], ids=lambda s: s.name)
def test_made_up_json_requests_get_aws_errors_and_change_nothing(fuzzed, service):
    answers = Counter()

    @FUZZ
    @given(action=_actions(service, in_header=True), body=json_body(fuzzed))
    def run(action, body):
        target = service.target_prefix + action
        content_type = f"application/x-amz-json-{service.json_version}"
        send_and_check(
            fuzzed,
            "json",
            answers,
            body=body,
            service=service.name,
            headers={"Content-Type": content_type, "X-Amz-Target": target},
        )

    run()
    assert_reached_the_actions(answers)


@pytest.mark.parametrize("service", [services.SQS, services.SNS], ids=lambda s: s.name)
def test_made_up_query_requests_get_aws_errors_and_change_nothing(fuzzed, service):
    answers = Counter()

    @FUZZ
    @given(action=_actions(service), params=query_body(fuzzed))
    def run(action, params):
        version = "2012-11-05" if service is services.SQS else "2010-03-31"
        # A lone surrogate goes as the bytes it would be (invalid UTF-8), as a careless
        # client would send it.
        body = urlencode({**params, "Action": action, "Version": version}, errors="surrogatepass")
        send_and_check(
            fuzzed,
            "query",
            answers,
            body=body.encode(),
            service=service.name,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )

    run()
    assert_reached_the_actions(answers)


LAMBDA_ROUTES = [
    ("POST", "/2015-03-31/functions"),
    ("GET", "/2015-03-31/functions"),
    ("GET", "/2015-03-31/functions/{}"),
    ("DELETE", "/2015-03-31/functions/{}"),
    ("GET", "/2015-03-31/functions/{}/configuration"),
    ("PUT", "/2015-03-31/functions/{}/configuration"),
    ("PUT", "/2015-03-31/functions/{}/code"),
    ("POST", "/2015-03-31/functions/{}/invocations"),
    ("PUT", "/2017-10-31/functions/{}/concurrency"),
    ("GET", "/2019-09-30/functions/{}/concurrency"),
    ("DELETE", "/2017-10-31/functions/{}/concurrency"),
    ("POST", "/2015-03-31/event-source-mappings"),
    ("GET", "/2015-03-31/event-source-mappings"),
    ("GET", "/2015-03-31/event-source-mappings/{}"),
    ("PUT", "/2015-03-31/event-source-mappings/{}"),
    ("DELETE", "/2015-03-31/event-source-mappings/{}"),
    ("PATCH", "/2015-03-31/{}"),
]
LAMBDA_MEMBERS = [
    "FunctionName", "Runtime", "Role", "Handler", "Code", "Timeout", "MemorySize",
    "Environment", "EventSourceArn", "BatchSize", "Enabled", "FunctionResponseTypes",
    "MaximumBatchingWindowInSeconds", "ScalingConfig", "FilterCriteria",
    "ReservedConcurrentExecutions", "ZipFile", "Publish",
]  # fmt: skip


def test_made_up_lambda_requests_get_aws_errors_and_change_nothing(fuzzed):
    segment = st.sampled_from(fuzzed.names) | st.from_regex(r"[A-Za-z0-9_-]{1,70}", fullmatch=True)
    members = st.dictionaries(st.sampled_from(LAMBDA_MEMBERS) | TEXT, _named(fuzzed), max_size=6)
    body = members.map(lambda value: json.dumps(value).encode()) | st.binary(max_size=40)

    @FUZZ
    @given(route=st.sampled_from(LAMBDA_ROUTES), name=segment, body=body)
    def run(route, name, body):
        method, path = route
        send_and_check(
            fuzzed,
            "rest-json",
            answers,
            url=fuzzed.url + path.format(quote(name, safe="", errors="surrogatepass")),
            method=method,
            body=body,
            service="lambda",
            headers={"Content-Type": "application/json"},
        )

    answers = Counter()
    run()
    assert_reached_the_actions(answers)
