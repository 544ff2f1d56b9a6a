"""KMS through real boto3 on the same endpoint, and SSE-KMS failures as SQS reports them."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.broker.api.conftest import make_client
from tests.broker.api.test_sqs_boto3 import error_of


def test_create_describe_list_alias_and_toggle_a_key(kms):
    meta = kms.create_key(Description="orders key")["KeyMetadata"]
    assert (meta["KeyState"], meta["KeyManager"], meta["Enabled"]) == ("Enabled", "CUSTOMER", True)
    assert meta["Arn"].endswith(f":key/{meta['KeyId']}")
    alias = f"alias/orders-{uuid.uuid4().hex[:6]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == meta["KeyId"]
    assert meta["KeyId"] in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    assert alias in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    kms.disable_key(KeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=meta["KeyId"])
    with pytest.raises(kms.exceptions.AlreadyExistsException):
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId=str(uuid.uuid4()))


def test_a_disabled_key_fails_send_and_receive_once_sqs_must_ask_kms(kms, sqs, live_server_url):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    url = sqs.create_queue(
        QueueName=f"kms-{uuid.uuid4().hex[:8]}", Attributes={"KmsMasterKeyId": key}
    )["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["KmsMasterKeyId"], attributes["SqsManagedSseEnabled"]) == (key, "false")
    assert attributes["KmsDataKeyReusePeriodSeconds"] == "300"
    sqs.send_message(QueueUrl=url, MessageBody="sealed")
    kms.disable_key(KeyId=key)
    # Within the reuse period SQS seals this sender's messages with its cached data key...
    sqs.send_message(QueueUrl=url, MessageBody="cached data key")
    # ...but a new sender needs a data key from KMS, and a receiver a Decrypt.
    other_sender = make_client(live_server_url, key="AKIASECONDPRODUCER")
    for call, kwargs in (
        (other_sender.send_message, {"MessageBody": "x"}),
        (sqs.receive_message, {}),
    ):
        error = error_of(call, QueueUrl=url, **kwargs)
        assert (error["Code"], error["status"]) == ("KmsDisabled", 400)
    kms.enable_key(KeyId=key)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["cached data key", "sealed"]


def test_both_encryption_types_at_once_is_invalid_attribute_name(sqs):
    with pytest.raises(ClientError) as caught:
        sqs.create_queue(
            QueueName=f"kms-{uuid.uuid4().hex[:8]}",
            Attributes={"KmsMasterKeyId": "alias/aws/sqs", "SqsManagedSseEnabled": "true"},
        )
    assert caught.value.response["Error"]["Code"] == "InvalidAttributeName"
