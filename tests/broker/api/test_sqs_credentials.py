"""With the local convention off, only a workspace's own credentials open its queues.

A second live stack runs with PLAYGROUND_LOCAL_CREDENTIALS=false (protocols.md §5):
an unknown access key is InvalidClientTokenId 403, a wrong secret
SignatureDoesNotMatch 403, and `test`/`test` no longer works.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.broker.api import wire
from tests.broker.api.conftest import make_client
from tests.live import start_live_stack

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def strict_stack():
    stack = start_live_stack(env={"PLAYGROUND_LOCAL_CREDENTIALS": "false"}, name="strict")
    try:
        yield stack
    finally:
        stack.stop()


def new_workspace(stack) -> dict:
    out = subprocess.run(
        [sys.executable, "manage.py", "create_workspace"],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def error_of(call, **kwargs) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_workspace_key_and_secret_work(strict_stack):
    creds = new_workspace(strict_stack)
    client = make_client(
        strict_stack.url, key=creds["access_key_id"], secret=creds["secret_access_key"]
    )
    url = client.create_queue(QueueName="mine")["QueueUrl"]
    assert url == f"{strict_stack.url}/{creds['account_id']}/mine"
    client.send_message(QueueUrl=url, MessageBody="hello")
    assert client.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"


def test_an_unknown_access_key_is_an_invalid_client_token(strict_stack):
    client = make_client(strict_stack.url, key="AKIA" + uuid.uuid4().hex[:16].upper())
    assert error_of(client.list_queues) == ("InvalidClientTokenId", 403)


def test_the_local_test_secret_is_refused_when_the_convention_is_off(strict_stack):
    assert error_of(make_client(strict_stack.url).list_queues) == ("InvalidClientTokenId", 403)


def test_a_workspace_key_with_the_wrong_secret_does_not_match(strict_stack):
    creds = new_workspace(strict_stack)
    client = make_client(strict_stack.url, key=creds["access_key_id"], secret="wrong")
    assert error_of(client.list_queues) == ("SignatureDoesNotMatch", 403)


def test_one_workspace_cannot_see_anothers_queues(strict_stack):
    mine, theirs = new_workspace(strict_stack), new_workspace(strict_stack)
    me = make_client(strict_stack.url, key=mine["access_key_id"], secret=mine["secret_access_key"])
    them = make_client(
        strict_stack.url, key=theirs["access_key_id"], secret=theirs["secret_access_key"]
    )
    url = me.create_queue(QueueName="private")["QueueUrl"]
    assert "QueueUrls" not in them.list_queues(QueueNamePrefix="private")
    code, _status = error_of(them.send_message, QueueUrl=url, MessageBody="sneaky")
    assert code == "AWS.SimpleQueueService.NonExistentQueue"


FEED = """
import json
from broker.models import Event
rows = Event.objects.filter(workspace__account_id={account!r}, kind="api.call").order_by("id")
print(json.dumps([dict(e.data, queue=e.queue) for e in rows]))
"""


def api_feed(stack, account_id: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", FEED.format(account=account_id)],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_every_call_leaves_one_entry_in_the_api_feed(strict_stack, query_model_dir):
    creds = new_workspace(strict_stack)
    key, secret = creds["access_key_id"], creds["secret_access_key"]
    client = make_client(strict_stack.url, key=key, secret=secret)
    url = client.create_queue(QueueName="fed")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="x" * 500)
    old = make_client(strict_stack.url, key=key, secret=secret, data_path=query_model_dir)
    old.receive_message(QueueUrl=url, MaxNumberOfMessages=5)
    error_of(make_client(strict_stack.url, key=key, secret="wrong").list_queues)

    feed = api_feed(strict_stack, creds["account_id"])
    assert [(c["action"], c["protocol"], c["status"], c["error"]) for c in feed] == [
        ("CreateQueue", "json", 200, ""),
        ("SendMessage", "json", 200, ""),
        ("ReceiveMessage", "query", 200, ""),
        ("ListQueues", "json", 403, "SignatureDoesNotMatch"),
    ]
    assert [c["queue"] for c in feed[:3]] == ["fed", "fed", "fed"]
    assert all(c["client"] == "boto3" and c["duration_ms"] >= 0 for c in feed)
    assert len(feed[1]["params"]["MessageBody"]) <= 80
    assert feed[2]["params"]["MaxNumberOfMessages"] == "5"


def test_an_unsigned_peek_at_messages_cannot_reach_a_workspace(strict_stack):
    creds = new_workspace(strict_stack)
    client = make_client(
        strict_stack.url, key=creds["access_key_id"], secret=creds["secret_access_key"]
    )
    url = client.create_queue(QueueName="private")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="for my eyes only")
    status, _headers, text = wire.send(
        f"{strict_stack.url}/_aws/sqs/messages?QueueUrl={url}", method="GET", sign=False
    )
    assert status == 400
    assert "AWS.SimpleQueueService.NonExistentQueue" in text
    assert "for my eyes only" not in text
    # Signed with the workspace's own key, the same look is allowed.
    peeker = make_client(
        f"{strict_stack.url}/_aws/sqs/messages",
        key=creds["access_key_id"],
        secret=creds["secret_access_key"],
    )
    assert peeker.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "for my eyes only"


def test_a_refused_call_of_a_new_local_account_creates_no_workspace(live_server_url):
    account = f"9{uuid.uuid4().int % 10**11:011d}"
    wrong = make_client(live_server_url, key=account, secret="not-test")
    assert error_of(wrong.list_queues) == ("SignatureDoesNotMatch", 403)
    with urllib.request.urlopen(f"{live_server_url}/", timeout=10) as home:
        assert f"Account {account}" not in home.read().decode()

    make_client(live_server_url, key=account).list_queues()  # the right secret: `test`
    with urllib.request.urlopen(f"{live_server_url}/", timeout=10) as home:
        assert f"Account {account}" in home.read().decode()
