"""The error codes that need a condition of their own, as boto3 (both protocols) and the CLI see
them: a queue URL that names no account, a KMS key of the wrong type, a key policy that says no,
a KMS quota spent, an account not opted in to KMS, a FIFO queue called too often, an old signature on an encrypted queue
(sqs.md §11)."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
import redis

from broker.sqs import throughput
from tests.broker.api import wire
from tests.broker.api.conftest import make_client
from tests.broker.api.test_sqs_boto3 import error_of

PROTOCOLS = ["json", "query"]


@pytest.fixture
def client(request, sqs, query_sqs):
    return sqs if request.param == "json" else query_sqs


def encrypted_queue(sqs, key_id: str) -> str:
    return sqs.create_queue(
        QueueName=f"kms-{uuid.uuid4().hex[:10]}", Attributes={"KmsMasterKeyId": key_id}
    )["QueueUrl"]


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_queue_url_without_an_account_id_is_invalid_address_404(client, live_server_url):
    url = f"{live_server_url}/queue/orders"  # the form other emulators use
    error = error_of(client.send_message, QueueUrl=url, MessageBody="x")
    assert (error["Code"], error["status"]) == ("InvalidAddress", 404)
    assert error["Message"] == f"The address {url} is not valid for this endpoint."
    # A URL without a path is a queue that does not exist, as on AWS.
    error = error_of(client.send_message, QueueUrl=live_server_url, MessageBody="x")
    assert (error["Code"], error["status"]) == ("AWS.SimpleQueueService.NonExistentQueue", 400)


def test_the_cli_shows_invalid_address(aws, live_server_url):
    result = aws(
        "send-message", "--queue-url", f"{live_server_url}/queue/orders", "--message-body", "x"
    )
    assert result.returncode != 0
    assert "(InvalidAddress)" in result.stderr, result.stderr


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_signing_key_as_kms_master_key_is_kms_invalid_key_usage(client, kms):
    meta = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert (meta["KeySpec"], meta["KeyUsage"], meta["SigningAlgorithms"][0]) == (
        "RSA_2048",
        "SIGN_VERIFY",
        "RSASSA_PSS_SHA_256",
    )
    url = encrypted_queue(client, meta["KeyId"])
    error = error_of(client.send_message, QueueUrl=url, MessageBody="x")
    assert (error["Code"], error["status"]) == ("KmsInvalidKeyUsage", 400)
    assert "symmetric ENCRYPT_DECRYPT" in error["Message"]


def test_kms_refuses_a_key_usage_its_spec_does_not_have(kms):
    error = error_of(kms.create_key, KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")
    assert (error["Code"], error["status"]) == ("ValidationException", 400)


def denying(kms, key_id: str, action: str) -> None:
    document = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    document["Statement"].append(
        {"Sid": "no", "Effect": "Deny", "Principal": "*", "Action": action, "Resource": "*"}
    )
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(document))


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_key_policy_without_data_keys_is_kms_access_denied(client, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    denying(kms, key_id, "kms:GenerateDataKey")
    url = encrypted_queue(client, key_id)
    error = error_of(client.send_message, QueueUrl=url, MessageBody="x")
    assert (error["Code"], error["status"]) == ("KmsAccessDenied", 400)
    assert "kms:GenerateDataKey" in error["Message"]

    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    url = encrypted_queue(client, key_id)
    client.send_message(QueueUrl=url, MessageBody="sealed before")
    denying(kms, key_id, "kms:Decrypt")  # before this receiver ever asked KMS to decrypt
    error = error_of(client.receive_message, QueueUrl=url)
    assert (error["Code"], error["status"]) == ("KmsAccessDenied", 400)
    assert "kms:Decrypt" in error["Message"]


def test_the_cli_shows_kms_access_denied(aws, sqs, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    url = encrypted_queue(sqs, key_id)
    denying(kms, key_id, "kms:GenerateDataKey*")  # Deny beats the account's own Allow
    result = aws("send-message", "--queue-url", url, "--message-body", "x")
    assert result.returncode != 0
    assert "(KmsAccessDenied)" in result.stderr, result.stderr


def test_a_key_policy_that_locks_you_out_needs_the_bypass_flag(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                }
            ],
        }
    )
    error = error_of(kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy=policy)
    assert error["Code"] == "MalformedPolicyDocumentException"
    kms.put_key_policy(
        KeyId=key_id, PolicyName="default", Policy=policy, BypassPolicyLockoutSafetyCheck=True
    )
    error = error_of(kms.disable_key, KeyId=key_id)
    assert error["Code"] == "AccessDeniedException"


@pytest.fixture
def kms_quota_of_one(learner_workspace):
    """A learner's workspace whose KMS request quota was lowered to 1 a second on its page."""
    assert learner_workspace.post("kms-quota/", quota="1") == 200
    return learner_workspace


def clients_of(workspace, url: str, data_path=None):
    sqs = make_client(url, key=workspace.access_key, secret=workspace.secret, data_path=data_path)
    kms = boto3.client(
        "kms",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=workspace.access_key,
        aws_secret_access_key=workspace.secret,
    )
    return sqs, kms


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_new_data_key_past_the_kms_request_quota_is_kms_throttled(
    protocol, kms_quota_of_one, live_server_url, query_model_dir
):
    sqs, kms = clients_of(
        kms_quota_of_one,
        live_server_url,
        data_path=query_model_dir if protocol == "query" else None,
    )
    url = encrypted_queue(sqs, kms.create_key()["KeyMetadata"]["KeyId"])
    # A new data key is two KMS requests (GenerateDataKey, then Decrypt): over a quota of 1.
    error = error_of(sqs.send_message, QueueUrl=url, MessageBody="x")
    assert (error["Code"], error["status"]) == ("KmsThrottled", 400)
    assert "more than 1 cryptographic requests a second" in error["Message"]
    # SSE-SQS uses an AWS-owned key, which no account's quota counts.
    sse_sqs = sqs.create_queue(QueueName=f"sse-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    assert sqs.send_message(QueueUrl=sse_sqs, MessageBody="x")["MessageId"]


def test_the_cli_shows_kms_throttled(aws, kms_quota_of_one, live_server_url):
    sqs, kms = clients_of(kms_quota_of_one, live_server_url)
    url = encrypted_queue(sqs, kms.create_key()["KeyMetadata"]["KeyId"])
    result = aws(
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "x",
        credentials=(kms_quota_of_one.access_key, kms_quota_of_one.secret),
    )
    assert result.returncode != 0
    assert "(KmsThrottled)" in result.stderr, result.stderr


@pytest.fixture
def kms_opted_out(learner_workspace, live_server_url):
    """A learner's KMS-encrypted queue, then the account opted out of KMS on its page."""
    sqs, kms = clients_of(learner_workspace, live_server_url)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    url = encrypted_queue(sqs, key_id)
    assert learner_workspace.post("kms-opt-in/", opted_in="false") == 200
    return learner_workspace, url, key_id


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_account_not_opted_in_to_kms_is_kms_opt_in_required(
    protocol, kms_opted_out, live_server_url, query_model_dir
):
    workspace, url, key_id = kms_opted_out
    sqs, kms = clients_of(
        workspace, live_server_url, data_path=query_model_dir if protocol == "query" else None
    )
    error = error_of(sqs.send_message, QueueUrl=url, MessageBody="x")
    assert (error["Code"], error["status"]) == ("KmsOptInRequired", 400)
    assert "not opted in to AWS KMS" in error["Message"]
    # The KMS API itself answers AWS's common error.
    error = error_of(kms.describe_key, KeyId=key_id)
    assert (error["Code"], error["status"]) == ("OptInRequired", 403)
    assert "needs a subscription for the service" in error["Message"]
    sse_sqs = sqs.create_queue(QueueName=f"sse-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    assert sqs.send_message(QueueUrl=sse_sqs, MessageBody="x")["MessageId"]

    assert workspace.post("kms-opt-in/", opted_in="true") == 200
    assert sqs.send_message(QueueUrl=url, MessageBody="x")["MessageId"]


def test_the_cli_shows_kms_opt_in_required(aws, kms_opted_out):
    workspace, url, _ = kms_opted_out
    result = aws(
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "x",
        credentials=(workspace.access_key, workspace.secret),
    )
    assert result.returncode != 0
    assert "(KmsOptInRequired)" in result.stderr, result.stderr


@pytest.fixture
def spent_fifo_queue(live_stack, sqs):
    """A FIFO queue whose SendMessage quota is spent for the next 30 wall seconds."""
    url = sqs.create_queue(
        QueueName=f"busy-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    server_redis = redis.Redis.from_url(live_stack.env["REDIS_URL"])
    now = time.time()
    for ahead in range(30):  # whichever second the call lands in, it is over the quota
        throughput.spend(
            arn,
            "SendMessage",
            calls=throughput.CALLS_PER_SECOND,
            now=now + ahead,
            client=server_redis,
        )
    return url


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_fifo_queue_over_300_calls_a_second_is_request_throttled_403(client, spent_fifo_queue):
    error = error_of(
        client.send_message,
        QueueUrl=spent_fifo_queue,
        MessageBody="x",
        MessageGroupId="g",
        MessageDeduplicationId=uuid.uuid4().hex,
    )
    assert (error["Code"], error["status"]) == ("RequestThrottled", 403)
    assert "300 SendMessage calls per second" in error["Message"]
    # The quota is per action: receiving from the same queue still works.
    assert "Messages" not in client.receive_message(QueueUrl=spent_fifo_queue)


def test_the_cli_shows_request_throttled(aws, spent_fifo_queue):
    result = aws(
        "send-message",
        "--queue-url",
        spent_fifo_queue,
        "--message-body",
        "x",
        "--message-group-id",
        "g",
        "--message-deduplication-id",
        "d",
    )
    assert result.returncode != 0
    assert "(RequestThrottled)" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def sigv2_sqs(live_server_url, query_model_dir):
    """boto3 on the query protocol signing with Signature Version 2 (SQS's older signature)."""
    return make_client(live_server_url, data_path=query_model_dir, signature_version="v2")


def test_sigv2_works_on_an_unencrypted_queue_and_is_invalid_security_on_an_encrypted_one(sigv2_sqs):
    plain = sigv2_sqs.create_queue(
        QueueName=f"v2-{uuid.uuid4().hex[:8]}", Attributes={"SqsManagedSseEnabled": "false"}
    )["QueueUrl"]
    sigv2_sqs.send_message(QueueUrl=plain, MessageBody="signed the old way: é ~*")
    [message] = sigv2_sqs.receive_message(QueueUrl=plain)["Messages"]
    assert message["Body"] == "signed the old way: é ~*"

    sealed = sigv2_sqs.create_queue(QueueName=f"v2-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for call, kwargs in (
        (sigv2_sqs.send_message, {"MessageBody": "x"}),
        (sigv2_sqs.receive_message, {}),
    ):
        error = error_of(call, QueueUrl=sealed, **kwargs)
        assert (error["Code"], error["status"]) == ("InvalidSecurity", 403)
        assert "Signature Version 4" in error["Message"]


def test_a_sigv2_request_with_a_wrong_secret_does_not_match(live_server_url, query_model_dir):
    wrong = make_client(
        live_server_url, data_path=query_model_dir, signature_version="v2", secret="not-the-secret"
    )
    error = error_of(wrong.list_queues)
    assert (error["Code"], error["status"]) == ("SignatureDoesNotMatch", 403)


def test_invalid_security_on_the_wire_for_a_raw_sigv2_query(sigv2_sqs, live_server_url):
    """What the CLI cannot send (it signs with SigV4 only), checked on the raw response."""
    sealed = sigv2_sqs.create_queue(QueueName=f"v2-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sent = {}
    sigv2_sqs.meta.events.register_first(
        "before-send.sqs.SendMessage",
        lambda request, **_: sent.update(body=request.body, url=request.url),
    )
    error_of(sigv2_sqs.send_message, QueueUrl=sealed, MessageBody="x")
    status, _, text = wire.send(
        sent["url"],
        body=sent["body"],
        sign=False,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert status == 403
    assert "<Type>Sender</Type><Code>InvalidSecurity</Code>" in text
