"""Server-side encryption at rest: SSE-SQS, SSE-KMS, and what a disabled key breaks."""

from __future__ import annotations

import json

import pytest

from broker import errors, key_policy, kms, sqs
from broker.models import Event, Message
from tests.factories import make_queue


def stored(queue) -> Message:
    return Message.objects.get(queue=queue)


def test_sqs_managed_encryption_keeps_no_plaintext_in_the_database(workspace, clock):
    queue = make_queue(workspace, clock=clock)  # SqsManagedSseEnabled is on by default
    sqs.send_message(queue, body="card 4111-1111", clock=clock,
                     attributes={"pin": {"DataType": "String", "StringValue": "1234"}})
    row = stored(queue)
    assert (row.body, row.attributes) == ("", {})
    assert "4111" not in row.sealed and row.sealed_key
    assert not Event.objects.filter(data__icontains="4111").exists()
    [r] = sqs.receive_messages(queue, clock=clock)
    assert r.body == "card 4111-1111"
    assert r.message_attributes == {"pin": {"DataType": "String", "StringValue": "1234"}}


def test_a_queue_without_encryption_stores_plaintext(workspace, clock):
    queue = make_queue(workspace, clock=clock, SqsManagedSseEnabled="false")
    sqs.send_message(queue, body="plain", clock=clock)
    assert (stored(queue).body, stored(queue).sealed) == ("plain", "")


def test_a_kms_key_seals_and_disabling_it_fails_sends_and_receives(workspace, clock):
    key = kms.create_key(workspace, description="orders", clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    assert not queue.sqs_managed_sse
    sqs.send_message(queue, body="secret", clock=clock)
    assert stored(queue).sealed_key.startswith(f"{key.pk}:")

    kms.set_enabled(workspace, key.key_id, False, clock=clock)
    with pytest.raises(errors.KmsDisabled):
        sqs.send_message(queue, body="more", clock=clock)
    with pytest.raises(errors.KmsDisabled):
        sqs.receive_messages(queue, clock=clock)
    # The failed receive changed nothing: no receive counted, still visible.
    assert (stored(queue).receive_count, sqs.counts(queue, now=clock.now()).visible) == (0, 1)

    kms.set_enabled(workspace, key.key_id, True, clock=clock)
    assert [r.body for r in sqs.receive_messages(queue, clock=clock)] == ["secret"]


def test_the_aws_managed_sqs_alias_works_without_creating_a_key(workspace, clock):
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId="alias/aws/sqs")
    sqs.send_message(queue, body="x", clock=clock)
    assert [r.body for r in sqs.receive_messages(queue, clock=clock)] == ["x"]
    [key] = kms.list_keys(workspace)
    assert key.manager == "AWS"
    with pytest.raises(errors.KmsInvalidStateException):
        kms.set_enabled(workspace, "alias/aws/sqs", False, clock=clock)


def test_an_unknown_kms_key_fails_the_send_with_kms_not_found(workspace, clock):
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId="alias/missing")
    with pytest.raises(errors.KmsNotFound):
        sqs.send_message(queue, body="x", clock=clock)


def test_both_kinds_of_encryption_at_once_are_refused(workspace, clock):
    with pytest.raises(errors.InvalidAttributeName, match="one type of server-side encryption"):
        make_queue(workspace, clock=clock, KmsMasterKeyId="alias/aws/sqs",
                   SqsManagedSseEnabled="true")
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId="alias/aws/sqs")
    with pytest.raises(errors.InvalidAttributeName):
        sqs.set_queue_attributes(queue, {"SqsManagedSseEnabled": "true"}, clock=clock)
    sqs.set_queue_attributes(queue, {"KmsMasterKeyId": "", "SqsManagedSseEnabled": "true"},
                             clock=clock)
    attributes = sqs.get_queue_attributes(queue, ["All"], clock=clock)
    assert "KmsMasterKeyId" not in attributes and attributes["SqsManagedSseEnabled"] == "true"


def test_kms_attributes_are_shown_only_while_kms_is_on(workspace, clock):
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId="alias/aws/sqs",
                       KmsDataKeyReusePeriodSeconds="600")
    attributes = sqs.get_queue_attributes(queue, ["All"], clock=clock)
    assert (attributes["KmsMasterKeyId"], attributes["KmsDataKeyReusePeriodSeconds"]) == (
        "alias/aws/sqs", "600")
    with pytest.raises(errors.InvalidAttributeValue, match="KmsDataKeyReusePeriodSeconds"):
        sqs.set_queue_attributes(queue, {"KmsDataKeyReusePeriodSeconds": "59"}, clock=clock)


def test_a_message_moved_to_a_dead_letter_queue_is_sealed_for_that_queue(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    dlq = make_queue(workspace, "dlq", clock=clock, KmsMasterKeyId=key.key_id)
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=1, RedrivePolicy=(
        f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}'))
    sqs.send_message(queue, body="poison", clock=clock)
    sqs.receive_messages(queue, clock=clock)
    clock.advance(1)
    sqs.receive_messages(queue, clock=clock)
    assert stored(dlq).sealed_key.startswith(f"{key.pk}:")
    assert [r.body for r in sqs.receive_messages(dlq, clock=clock)] == ["poison"]


def test_aliases_resolve_and_must_be_unique(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    kms.create_alias(workspace, "alias/orders", key.key_id, clock=clock)
    assert kms.resolve(workspace, "alias/orders", clock=clock) == key
    assert kms.resolve(workspace, kms.key_arn(key), clock=clock) == key
    with pytest.raises(errors.KmsAlreadyExistsException):
        kms.create_alias(workspace, "alias/orders", key.key_id, clock=clock)
    with pytest.raises(errors.KmsNotFoundException):
        kms.resolve(workspace, "alias/nope", clock=clock)


def test_a_changed_secret_key_is_a_clear_kms_error_not_a_crash(workspace, clock, settings):
    queue = make_queue(workspace, clock=clock)
    sqs.send_message(queue, body="sealed under the old key", clock=clock)
    kms._root.cache_clear()
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    try:
        with pytest.raises(errors.KmsInvalidState, match="SECRET_KEY"):
            sqs.receive_messages(queue, clock=clock)
    finally:
        kms._root.cache_clear()


def test_a_signing_or_mac_key_fails_the_send_with_kms_invalid_key_usage(workspace, clock):
    for spec, usage in (("RSA_2048", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC"),
                        ("RSA_2048", "ENCRYPT_DECRYPT")):
        key = kms.create_key(workspace, spec=spec, usage=usage, clock=clock)
        assert (key.key_spec, key.key_usage, key.material) == (spec, usage, "")
        queue = make_queue(workspace, f"{spec}-{usage}".lower(), clock=clock,
                           KmsMasterKeyId=key.key_id)
        with pytest.raises(errors.KmsInvalidKeyUsage, match=f"{spec} key for {usage}"):
            sqs.send_message(queue, body="x", clock=clock)
        assert sqs.counts(queue, now=clock.now()).visible == 0


def test_a_key_spec_takes_only_the_usages_kms_allows(workspace, clock):
    with pytest.raises(errors.KmsValidationException, match="GENERATE_VERIFY_MAC"):
        kms.create_key(workspace, spec="HMAC_256", clock=clock)  # ENCRYPT_DECRYPT by default
    with pytest.raises(errors.KmsValidationException, match="keySpec"):
        kms.create_key(workspace, spec="AES_128", clock=clock)


def denying(account: str, *actions: str) -> str:
    """The default key policy plus a Deny of `actions` to everyone."""
    document = key_policy.default(account)
    document["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": list(actions),
                                  "Resource": "*"})
    return json.dumps(document)


def test_a_key_policy_that_denies_data_keys_fails_sends_and_then_receives(workspace, clock):
    account = workspace.account_id
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    sqs.send_message(queue, body="before", clock=clock)

    kms.put_policy(workspace, key.key_id, denying(account, "kms:GenerateDataKey*"), clock=clock)
    with pytest.raises(errors.KmsAccessDenied, match="kms:GenerateDataKey"):
        sqs.send_message(queue, body="after", clock=clock)
    [r] = sqs.receive_messages(queue, clock=clock)  # kms:Decrypt is still allowed
    assert r.body == "before"
    sqs.change_message_visibility(queue, r.receipt_handle, 0, clock=clock)

    kms.put_policy(workspace, key.key_id, denying(account, "kms:Decrypt"), clock=clock)
    with pytest.raises(errors.KmsAccessDenied, match="kms:Decrypt"):
        sqs.receive_messages(queue, clock=clock)
    with pytest.raises(errors.KmsAccessDenied, match="kms:Decrypt"):
        sqs.send_message(queue, body="after", clock=clock)  # producers need Decrypt too

    kms.put_policy(workspace, key.key_id, json.dumps(key_policy.default(account)), clock=clock)
    assert [r.body for r in sqs.receive_messages(queue, clock=clock)] == ["before"]


def test_a_key_policy_that_would_lock_the_account_out_is_refused(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    only_decrypt = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*",
                                              "Action": "kms:Decrypt"}]})
    with pytest.raises(errors.KmsMalformedPolicyDocument, match="update the key policy"):
        kms.put_policy(workspace, key.key_id, only_decrypt, clock=clock)
    with pytest.raises(errors.KmsMalformedPolicyDocument, match="not valid JSON"):
        kms.put_policy(workspace, key.key_id, "{", clock=clock)

    kms.put_policy(workspace, key.key_id, only_decrypt, bypass_lockout=True, clock=clock)
    with pytest.raises(errors.KmsAccessDeniedException, match="kms:PutKeyPolicy"):
        kms.put_policy(workspace, key.key_id, only_decrypt, clock=clock)
    with pytest.raises(errors.KmsAccessDeniedException, match="kms:DisableKey"):
        kms.set_enabled(workspace, key.key_id, False, clock=clock)


def test_key_policy_statements_read_like_kms_reads_them(workspace):
    account = workspace.account_id
    document = key_policy.parse(json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [account]}, "Action": "kms:Gen*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
         "Action": "kms:*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:role/app"},
         "Action": "kms:Decrypt"},
        {"Effect": "Deny", "Principal": "*", "NotAction": ["kms:Gen*", "kms:Decrypt"]}]}))
    assert key_policy.allows(document, "kms:GenerateDataKey", account)
    assert not key_policy.allows(document, "kms:Decrypt", account)  # that role is not the caller
    assert not key_policy.allows(document, "kms:DescribeKey", account)  # denied by NotAction
