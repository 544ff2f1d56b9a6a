"""Server-side encryption at rest: SSE-SQS, SSE-KMS, and what a disabled key breaks."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps as django_apps

from broker import errors, kms, sqs
from broker.kms import data_keys, key_policy, keys
from broker.models import Event, KmsKey, Message
from tests.factories import make_queue

# Principals, as the API names them: data keys are per access key.
PRODUCER, OTHER_PRODUCER, CONSUMER = (
    "boto3 · AKIAPRODUCER",
    "boto3 · AKIAOTHER",
    "boto3 · AKIACONSUMER",
)


def requests(key) -> tuple[int, int]:
    """(GenerateDataKey, Decrypt) requests SQS made of KMS with the key."""
    return data_keys.requests_by_key(key.workspace).get(key.pk, (0, 0))


def stored(queue) -> Message:
    return Message.objects.get(queue=queue)


def test_sqs_managed_encryption_keeps_no_plaintext_in_the_database(workspace, clock):
    queue = make_queue(workspace, clock=clock)  # SqsManagedSseEnabled is on by default
    sqs.send_message(
        queue,
        body="card 4111-1111",
        clock=clock,
        attributes={"pin": {"DataType": "String", "StringValue": "1234"}},
    )
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


def test_a_disabled_key_fails_sends_and_receives_once_the_cached_data_keys_run_out(
    workspace, clock
):
    key = kms.create_key(workspace, description="orders", clock=clock)
    queue = make_queue(
        workspace, clock=clock, KmsMasterKeyId=key.key_id, KmsDataKeyReusePeriodSeconds="60"
    )
    assert not queue.sqs_managed_sse
    sqs.send_message(queue, body="secret", sender=PRODUCER, clock=clock)
    assert stored(queue).sealed_key.startswith(f"{key.pk}:")

    kms.set_enabled(workspace, key.key_id, False, clock=clock)
    # SQS does not ask KMS again within the reuse period: the producer's data key still works.
    sqs.send_message(queue, body="within the period", sender=PRODUCER, clock=clock)
    with pytest.raises(errors.KmsDisabled):  # another principal needs a data key of its own
        sqs.send_message(queue, body="more", sender=OTHER_PRODUCER, clock=clock)
    with pytest.raises(errors.KmsDisabled):  # and a receiver must ask KMS to decrypt
        sqs.receive_messages(queue, receiver=CONSUMER, clock=clock)
    # The failed receive changed nothing: no receive counted, still visible.
    assert sqs.counts(queue, now=clock.now()).visible == 2
    clock.advance(61)
    with pytest.raises(errors.KmsDisabled):
        sqs.send_message(queue, body="after the period", sender=PRODUCER, clock=clock)

    kms.set_enabled(workspace, key.key_id, True, clock=clock)
    received = sqs.receive_messages(queue, max_number=10, receiver=CONSUMER, clock=clock)
    assert sorted(r.body for r in received) == ["secret", "within the period"]


def test_a_sender_reuses_its_data_key_until_the_reuse_period_ends(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(
        workspace, clock=clock, KmsMasterKeyId=key.key_id, KmsDataKeyReusePeriodSeconds="60"
    )
    for body in ("a", "b", "c"):
        sqs.send_message(queue, body=body, sender=PRODUCER, clock=clock)
        clock.advance(20)
    sealed_with = set(Message.objects.filter(queue=queue).values_list("sealed_key", flat=True))
    assert len(sealed_with) == 1
    assert requests(key) == (1, 1)

    sqs.send_message(queue, body="d", sender=PRODUCER, clock=clock)  # 60 s after the first
    sealed_with = set(Message.objects.filter(queue=queue).values_list("sealed_key", flat=True))
    assert len(sealed_with) == 2
    assert requests(key) == (2, 2)
    assert Event.objects.filter(kind="key.data_key_generated", queue=queue.name).count() == 2


def test_principals_do_not_share_data_keys_and_a_receiver_decrypts_each_once(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    for sender in (PRODUCER, OTHER_PRODUCER, PRODUCER, OTHER_PRODUCER):
        sqs.send_message(queue, body=sender, sender=sender, clock=clock)
    assert Message.objects.filter(queue=queue).values("sealed_key").distinct().count() == 2
    for _ in range(2):
        received = sqs.receive_messages(
            queue, max_number=10, visibility=0, receiver=CONSUMER, clock=clock
        )
        assert len(received) == 4
    # AWS's formula: 2 requests per producing principal, 1 per data key a consumer opens.
    assert requests(key) == (2, 2 + 2)
    # Each principal reads what it may: a second receiver asks KMS for itself.
    sqs.receive_messages(queue, max_number=10, receiver="lambda:worker", clock=clock)
    assert requests(key) == (2, 2 + 2 + 2)


def test_kms_requests_past_the_account_quota_are_kms_throttled(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    workspace.kms_request_quota = 1
    workspace.save(update_fields=["kms_request_quota"])
    queue.workspace.refresh_from_db()
    # A new data key costs two requests (GenerateDataKey, then Decrypt): over a quota of 1.
    with pytest.raises(errors.KmsThrottled, match="more than 1 cryptographic requests"):
        sqs.send_message(queue, body="x", sender=PRODUCER, clock=clock)
    assert not Message.objects.filter(queue=queue).exists()
    assert requests(key) == (0, 0)

    workspace.kms_request_quota = 2
    workspace.save(update_fields=["kms_request_quota"])
    queue.workspace.refresh_from_db()
    sqs.send_message(queue, body="x", sender=OTHER_PRODUCER, clock=clock)
    for _ in range(5):  # a reused data key is no KMS request: the quota is not touched
        sqs.send_message(queue, body="x", sender=OTHER_PRODUCER, clock=clock)
    assert Message.objects.filter(queue=queue).count() == 6


def test_an_account_not_opted_in_to_kms_is_kms_opt_in_required_where_sqs_must_ask_kms(
    workspace, clock
):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    sse_sqs = make_queue(workspace, "sse-sqs", clock=clock)
    sqs.send_message(queue, body="before", sender=PRODUCER, clock=clock)

    kms.set_opted_in(workspace, False, clock=clock)
    queue.workspace.refresh_from_db()
    assert Event.objects.filter(kind="account.kms_opt_in_changed", data__opted_in=False).exists()
    # A cached data key needs no KMS request; a new principal's does.
    sqs.send_message(queue, body="cached", sender=PRODUCER, clock=clock)
    with pytest.raises(errors.KmsOptInRequired, match="not opted in to AWS KMS"):
        sqs.send_message(queue, body="new", sender=OTHER_PRODUCER, clock=clock)
    with pytest.raises(errors.KmsOptInRequired):
        sqs.receive_messages(queue, receiver=CONSUMER, clock=clock)
    with pytest.raises(errors.OptInRequired, match="needs a subscription for the service"):
        kms.require_opt_in(workspace)
    # The SQS-owned key behind SSE-SQS is not the account's KMS.
    sqs.send_message(sse_sqs, body="x", sender=OTHER_PRODUCER, clock=clock)
    assert len(sqs.receive_messages(sse_sqs, receiver=CONSUMER, clock=clock)) == 1

    kms.set_opted_in(workspace, True, clock=clock)
    queue.workspace.refresh_from_db()
    assert len(sqs.receive_messages(queue, max_number=10, receiver=CONSUMER, clock=clock)) == 2


def test_sqs_managed_encryption_makes_no_kms_requests(workspace, clock):
    workspace.kms_request_quota = 1
    workspace.save(update_fields=["kms_request_quota"])
    queue = make_queue(workspace, clock=clock)
    queue.workspace.refresh_from_db()
    for _ in range(3):  # AWS-owned keys do not count against the account's quota
        sqs.send_message(queue, body="x", sender=PRODUCER, clock=clock)
    assert len(sqs.receive_messages(queue, max_number=10, receiver=CONSUMER, clock=clock)) == 3
    assert not Event.objects.filter(kind__startswith="key.data_key").exists()


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
        make_queue(
            workspace, clock=clock, KmsMasterKeyId="alias/aws/sqs", SqsManagedSseEnabled="true"
        )
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId="alias/aws/sqs")
    with pytest.raises(errors.InvalidAttributeName):
        sqs.set_queue_attributes(queue, {"SqsManagedSseEnabled": "true"}, clock=clock)
    sqs.set_queue_attributes(
        queue, {"KmsMasterKeyId": "", "SqsManagedSseEnabled": "true"}, clock=clock
    )
    attributes = sqs.get_queue_attributes(queue, ["All"], clock=clock)
    assert "KmsMasterKeyId" not in attributes and attributes["SqsManagedSseEnabled"] == "true"


def test_kms_attributes_are_shown_only_while_kms_is_on(workspace, clock):
    queue = make_queue(
        workspace, clock=clock, KmsMasterKeyId="alias/aws/sqs", KmsDataKeyReusePeriodSeconds="600"
    )
    attributes = sqs.get_queue_attributes(queue, ["All"], clock=clock)
    assert (attributes["KmsMasterKeyId"], attributes["KmsDataKeyReusePeriodSeconds"]) == (
        "alias/aws/sqs",
        "600",
    )
    with pytest.raises(errors.InvalidAttributeValue, match="KmsDataKeyReusePeriodSeconds"):
        sqs.set_queue_attributes(queue, {"KmsDataKeyReusePeriodSeconds": "59"}, clock=clock)


def test_a_message_moved_to_a_dead_letter_queue_is_sealed_for_that_queue(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    dlq = make_queue(workspace, "dlq", clock=clock, KmsMasterKeyId=key.key_id)
    queue = make_queue(
        workspace,
        clock=clock,
        VisibilityTimeout=1,
        RedrivePolicy=(f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":1}}'),
    )
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
    keys._root.cache_clear()
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    try:
        with pytest.raises(errors.KmsInvalidState, match="SECRET_KEY"):
            sqs.receive_messages(queue, clock=clock)
    finally:
        keys._root.cache_clear()


def test_messages_sealed_under_the_old_development_key_stay_readable_after_migrating(
    workspace, clock, settings
):
    reseal = importlib.import_module(
        "broker.migrations.0011_reseal_kms_keys_under_the_generated_secret"
    )
    generated = settings.SECRET_KEY
    keys._root.cache_clear()
    settings.SECRET_KEY = reseal.LEGACY_DEVELOPMENT_SECRET
    try:
        queue = make_queue(workspace, clock=clock)
        sqs.send_message(queue, body="sent before the key was generated", clock=clock)
        own = kms.create_key(workspace, clock=clock)
    finally:
        keys._root.cache_clear()
        settings.SECRET_KEY = generated
    before = own.material

    reseal.reseal_keys(django_apps, None)

    own.refresh_from_db()
    assert own.material != before
    [message] = sqs.receive_messages(queue, clock=clock)
    assert message.body == "sent before the key was generated"
    reseal.reseal_keys(django_apps, None)  # a second run changes nothing
    assert KmsKey.objects.get(pk=own.pk).material == own.material


def test_a_signing_or_mac_key_fails_the_send_with_kms_invalid_key_usage(workspace, clock):
    for spec, usage in (
        ("RSA_2048", "SIGN_VERIFY"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
        ("RSA_2048", "ENCRYPT_DECRYPT"),
    ):
        key = kms.create_key(workspace, spec=spec, usage=usage, clock=clock)
        assert (key.key_spec, key.key_usage, key.material) == (spec, usage, "")
        queue = make_queue(
            workspace, f"{spec}-{usage}".lower(), clock=clock, KmsMasterKeyId=key.key_id
        )
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
    document["Statement"].append(
        {"Effect": "Deny", "Principal": "*", "Action": list(actions), "Resource": "*"}
    )
    return json.dumps(document)


def test_a_key_policy_that_denies_data_keys_fails_sends_and_then_receives(workspace, clock):
    account = workspace.account_id
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    kms.put_policy(workspace, key.key_id, denying(account, "kms:GenerateDataKey*"), clock=clock)
    with pytest.raises(errors.KmsAccessDenied, match="kms:GenerateDataKey"):
        sqs.send_message(queue, body="denied", sender=PRODUCER, clock=clock)

    kms.put_policy(workspace, key.key_id, json.dumps(key_policy.default(account)), clock=clock)
    sqs.send_message(queue, body="before", sender=PRODUCER, clock=clock)
    kms.put_policy(workspace, key.key_id, denying(account, "kms:Decrypt"), clock=clock)
    with pytest.raises(errors.KmsAccessDenied, match="kms:Decrypt"):
        sqs.receive_messages(queue, receiver=CONSUMER, clock=clock)
    with pytest.raises(errors.KmsAccessDenied, match="kms:Decrypt"):
        # Producers need Decrypt too: SQS checks each new data key with it.
        sqs.send_message(queue, body="after", sender=OTHER_PRODUCER, clock=clock)

    kms.put_policy(workspace, key.key_id, json.dumps(key_policy.default(account)), clock=clock)
    [r] = sqs.receive_messages(queue, receiver=CONSUMER, clock=clock)
    assert r.body == "before"


def test_a_key_policy_that_would_lock_the_account_out_is_refused(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    only_decrypt = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}]}
    )
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
    document = key_policy.parse(
        json.dumps(
            {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": [account]}, "Action": "kms:Gen*"},
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                        "Action": "kms:*",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:role/app"},
                        "Action": "kms:Decrypt",
                    },
                    {"Effect": "Deny", "Principal": "*", "NotAction": ["kms:Gen*", "kms:Decrypt"]},
                ]
            }
        )
    )
    assert key_policy.allows(document, "kms:GenerateDataKey", account)
    assert not key_policy.allows(document, "kms:Decrypt", account)  # that role is not the caller
    assert not key_policy.allows(document, "kms:DescribeKey", account)  # denied by NotAction
