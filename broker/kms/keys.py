"""A workspace's KMS keys: create, describe, list, disable/enable, alias; data keys.

Just enough of AWS KMS for SQS server-side encryption and for boto3 to manage
keys (CreateKey, DescribeKey, ListKeys, DisableKey, EnableKey, CreateAlias,
ListAliases). Keys are real: each holds 32 random bytes of key material, itself
stored encrypted (AES-GCM) under a root key derived from the server's
SECRET_KEY, so the database alone does not open a message.

The requests SQS makes of KMS: `generate_data_key` (a fresh AES-256 data key and
its wrapped form) and `decrypt` (open a wrapped one). Each fails as AWS does when
the key is disabled, of the wrong type or denied by its policy, and counts
against the account's KMS request quota (KmsThrottled past it); none is made
while the account is not opted in to KMS (KmsOptInRequired, and OptInRequired
for the KMS API). How often SQS makes them, and the record of each, is
`data_keys`'s business.

Keys other than symmetric ENCRYPT_DECRYPT ones (RSA, ECC, HMAC) can be made
and described, so that using one for a queue fails with KmsInvalidKeyUsage as
on AWS; the playground offers no API that would use their material, so they
have none. Each customer key has a key policy (`key_policy`): one
that denies the account kms:GenerateDataKey or kms:Decrypt makes sends or
receives fail with KmsAccessDenied.

Two keys exist without CreateKey: `alias/aws/sqs` (the AWS-managed key for SQS,
made on first use, listed, never disabled) and the SQS-owned key behind
SqsManagedSseEnabled (not listed: AWS does not show it either).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import uuid
from functools import cache, partial

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction

from broker import arns, counters, errors, events
from broker.kms import key_policy
from broker.models import KmsAlias, KmsKey

log = logging.getLogger(__name__)

AWS_SQS_ALIAS = "alias/aws/sqs"
AWS_SNS_ALIAS = "alias/aws/sns"
SQS_OWNED = "sqs-owned"  # the description that marks the SQS-owned key
MAX_LIST = 1000
SYMMETRIC = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
# KMS's key specs and the key usages each allows.
KEY_USAGES = {
    SYMMETRIC: (ENCRYPT_DECRYPT,),
    **dict.fromkeys(("RSA_2048", "RSA_3072", "RSA_4096"), (ENCRYPT_DECRYPT, "SIGN_VERIFY")),
    **dict.fromkeys(
        ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"), ("SIGN_VERIFY", "KEY_AGREEMENT")
    ),
    "ECC_SECG_P256K1": ("SIGN_VERIFY",),
    **dict.fromkeys(("ML_DSA_44", "ML_DSA_65", "ML_DSA_87"), ("SIGN_VERIFY",)),
    **dict.fromkeys(("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"), ("GENERATE_VERIFY_MAC",)),
}


@cache
def _root() -> AESGCM:
    secret = settings.SECRET_KEY.encode()
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"sqs-sns-playground kms root"
    ).derive(secret)
    return AESGCM(key)


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return aead.decrypt(sealed[:12], sealed[12:], aad)


def seal_secret(plain: bytes, label: str) -> str:
    """A secret of the server's own (an SNS signing key) sealed under the root key, so the
    database alone does not give it away; `label` binds it to its owner."""
    return base64.b64encode(_seal(_root(), plain, label.encode())).decode()


def open_secret(sealed: str, label: str) -> bytes:
    return _open(_root(), base64.b64decode(sealed), label.encode())


def key_arn(key: KmsKey) -> str:
    return arns.kms_key(key.workspace, key.key_id)


def _new_key(
    workspace,
    *,
    description: str,
    manager: str,
    clock,
    spec: str = SYMMETRIC,
    usage: str = ENCRYPT_DECRYPT,
    policy: str = "",
) -> KmsKey:
    key_id = str(uuid.uuid4())
    material = ""
    if spec == SYMMETRIC:
        material = base64.b64encode(_seal(_root(), os.urandom(32), key_id.encode())).decode()
    return KmsKey.objects.create(
        workspace=workspace,
        key_id=key_id,
        description=description,
        manager=manager,
        key_spec=spec,
        key_usage=usage,
        policy=policy,
        material=material,
        created_at=clock.now(),
    )


def _checked_policy(workspace, text: str, *, bypass_lockout: bool) -> str:
    """The policy as given, once KMS would take it: well formed, and not locking you out."""
    document = key_policy.parse(text)
    if not bypass_lockout and not key_policy.allows(
        document, "kms:PutKeyPolicy", workspace.account_id
    ):
        raise errors.KmsMalformedPolicyDocument(
            "The new key policy will not allow you to update the key policy in the future."
        )
    return text


@transaction.atomic
def create_key(
    workspace,
    *,
    description: str = "",
    spec: str | None = None,
    usage: str | None = None,
    policy: str | None = None,
    bypass_lockout: bool = False,
    clock,
) -> KmsKey:
    if len(description) > 8192:
        raise errors.KmsValidationException("Description must be at most 8192 characters.")
    spec = spec or SYMMETRIC
    if spec not in KEY_USAGES:
        raise errors.KmsValidationException(
            f"1 validation error detected: Value '{spec[:40]}' at 'keySpec' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(KEY_USAGES)}]"
        )
    usage = usage or ENCRYPT_DECRYPT
    if usage not in KEY_USAGES[spec]:
        raise errors.KmsValidationException(
            f"KeyUsage {usage[:40]} is not compatible with KeySpec {spec}: use "
            f"{' or '.join(KEY_USAGES[spec])}."
        )
    if policy is not None:
        policy = _checked_policy(workspace, policy, bypass_lockout=bypass_lockout)
    key = _new_key(
        workspace,
        description=description,
        manager="CUSTOMER",
        clock=clock,
        spec=spec,
        usage=usage,
        policy=policy or "",
    )
    events.record(workspace, "key.created", data={"key": key.key_id}, clock=clock)
    return key


AWS_MANAGED_ALIASES = {
    AWS_SQS_ALIAS: "Default key that protects my SQS messages when no other key is defined",
    AWS_SNS_ALIAS: "Default key that protects my SNS topics when no other key is defined",
}


def _aws_managed_key(workspace, alias_name: str, *, clock) -> KmsKey:
    """alias/aws/sqs or alias/aws/sns: made on first use, as AWS makes them."""
    alias = KmsAlias.objects.filter(workspace=workspace, name=alias_name).first()
    if alias is not None:
        return alias.key
    try:
        with transaction.atomic():
            key = _new_key(
                workspace,
                description=AWS_MANAGED_ALIASES[alias_name],
                manager="AWS",
                clock=clock,
            )
            KmsAlias.objects.create(workspace=workspace, name=alias_name, key=key)
            return key
    except IntegrityError:  # made by a concurrent first use
        return KmsAlias.objects.get(workspace=workspace, name=alias_name).key


# workspace pk -> (its creation time, its SQS-owned key), for this process: the key
# never changes, and is kept once a transaction that read it has committed. The id of
# a committed workspace is not given again (AUTOINCREMENT, a sequence); the creation
# time tells a workspace from one made with the id of a rolled-back one.
_sqs_owned: dict[int, tuple] = {}
_sqs_owned_by_pk: dict[int, KmsKey] = {}  # the same keys by their own id


def sqs_owned_key(workspace, *, clock) -> KmsKey:
    """The key behind SqsManagedSseEnabled (one per workspace, never listed). Nobody can
    disable or delete it, so once read it is kept for the process: every send to a
    queue with SSE-SQS needs it."""
    held = _sqs_owned.get(workspace.pk)
    if held is not None and held[0] == workspace.created:
        return held[1]
    key = (
        KmsKey.objects.filter(workspace=workspace, manager="SQS")
        .select_related("workspace")
        .first()
    )
    if key is None:
        return _new_key(workspace, description=SQS_OWNED, manager="SQS", clock=clock)
    # Not before the commit: a rolled-back transaction may have made the key, or the
    # workspace, whose id would then be given again.
    transaction.on_commit(partial(_keep_sqs_owned, workspace, key))
    return key


def _keep_sqs_owned(workspace, key: KmsKey) -> None:
    # Its workspace row is read for the account and the region only, which never change.
    _sqs_owned[workspace.pk] = (workspace.created, key)
    _sqs_owned_by_pk[key.pk] = key


def resolve(workspace, ref: str, *, clock) -> KmsKey:
    """A key by id, key ARN, alias name or alias ARN; NotFoundException otherwise."""
    ref = (ref or "").strip()
    arn = arns.parse(ref)
    if arn and arn == arns.Arn("kms", workspace.region, workspace.account_id, arn.resource):
        ref = arn.resource.removeprefix("key/")
    if ref in AWS_MANAGED_ALIASES:
        return _aws_managed_key(workspace, ref, clock=clock)
    if ref.startswith("alias/"):
        alias = (
            KmsAlias.objects.filter(workspace=workspace, name=ref)
            .select_related("key__workspace")
            .first()
        )
        if alias is None:
            raise errors.KmsNotFoundException(
                f"Alias {arns.kms_alias(workspace, ref)} is not found."
            )
        return alias.key
    key = (
        KmsKey.objects.filter(workspace=workspace, key_id=ref)
        .exclude(manager="SQS")
        .select_related("workspace")
        .first()
    )
    if key is None:
        raise errors.KmsNotFoundException(f"Key '{arns.kms_key(workspace, ref)}' does not exist")
    return key


def list_keys(workspace) -> list[KmsKey]:
    return list(
        KmsKey.objects.filter(workspace=workspace)
        .exclude(manager="SQS")
        .select_related("workspace")
        .order_by("created_at", "pk")[:MAX_LIST]
    )


def list_aliases(workspace) -> list[KmsAlias]:
    return list(
        KmsAlias.objects.filter(workspace=workspace)
        .select_related("key__workspace")
        .order_by("name")
    )


def policy_of(key: KmsKey) -> dict:
    """The key's policy document: its own, or the one KMS gives keys without one."""
    account = key.workspace.account_id
    if key.policy:
        return key_policy.parse(key.policy)
    if key.manager == "AWS":
        return key_policy.aws_managed_for_sqs(account, key.workspace.region)
    return key_policy.default(account)


def authorize(key: KmsKey, action: str) -> None:
    """A KMS API call on the key; AccessDeniedException when its policy says no."""
    if not key_policy.allows(policy_of(key), action, key.workspace.account_id):
        raise errors.KmsAccessDeniedException(
            f"User: {arns.account_root(key.workspace.account_id)} is not authorized to perform: "
            f"{action} on resource: {key_arn(key)}: its key policy does not allow it."
        )


def get_policy(workspace, ref: str, *, clock) -> str:
    key = resolve(workspace, ref, clock=clock)
    authorize(key, "kms:GetKeyPolicy")
    return key.policy or json.dumps(policy_of(key), indent=2)


@transaction.atomic
def put_policy(workspace, ref: str, text: str, *, bypass_lockout: bool = False, clock) -> KmsKey:
    """PutKeyPolicy: replace a customer key's policy (an AWS-managed key's is fixed)."""
    key = resolve(workspace, ref, clock=clock)
    if key.manager != "CUSTOMER":
        raise errors.KmsAccessDeniedException(
            f"{key_arn(key)} is an AWS managed key: its key policy cannot be changed."
        )
    authorize(key, "kms:PutKeyPolicy")
    key.policy = _checked_policy(workspace, text, bypass_lockout=bypass_lockout)
    key.save(update_fields=["policy"])
    events.record(workspace, "key.policy_changed", data={"key": key.key_id}, clock=clock)
    return key


@transaction.atomic
def set_enabled(workspace, ref: str, enabled: bool, *, clock) -> KmsKey:
    """DisableKey / EnableKey. An AWS-managed key cannot be changed."""
    key = resolve(workspace, ref, clock=clock)
    if key.manager != "CUSTOMER":
        raise errors.KmsInvalidStateException(
            f"{key_arn(key)} is an AWS managed key: it cannot be disabled or enabled."
        )
    authorize(key, "kms:EnableKey" if enabled else "kms:DisableKey")
    if key.enabled != enabled:
        key.enabled = enabled
        key.save(update_fields=["enabled"])
        events.record(
            workspace,
            "key.enabled" if enabled else "key.disabled",
            data={"key": key.key_id},
            clock=clock,
        )
    return key


MAX_REQUEST_QUOTA = 100_000  # the knob's upper bound


@transaction.atomic
def set_request_quota(workspace, quota: int, *, clock) -> None:
    """The account's KMS request quota (AWS adjusts it either way through Service Quotas or
    a support case); a low one shows KmsThrottled and what the data key reuse period saves."""
    if not 1 <= quota <= MAX_REQUEST_QUOTA:
        raise errors.InvalidParameterValue(
            f"The KMS request quota must be between 1 and {MAX_REQUEST_QUOTA:,} requests a second."
        )
    workspace.kms_request_quota = quota
    workspace.save(update_fields=["kms_request_quota"])
    events.record(workspace, "account.kms_quota_changed", data={"quota": quota}, clock=clock)


@transaction.atomic
def set_opted_in(workspace, opted_in: bool, *, clock) -> None:
    """Subscribe the account to KMS, or not. Not opted in, every KMS request fails with
    OptInRequired, which SQS passes on as KmsOptInRequired; cached data keys, which need
    no request, keep working until their reuse period ends."""
    if workspace.kms_opted_in != opted_in:
        workspace.kms_opted_in = opted_in
        workspace.save(update_fields=["kms_opted_in"])
        events.record(
            workspace, "account.kms_opt_in_changed", data={"opted_in": opted_in}, clock=clock
        )


def require_opt_in(workspace) -> None:
    """A call to the KMS API: OptInRequired (403) unless the account is opted in."""
    if not workspace.kms_opted_in:
        raise errors.OptInRequired(
            f"The AWS access key ID needs a subscription for the service: account "
            f"{workspace.account_id} is not opted in to AWS KMS."
        )


@transaction.atomic
def create_alias(workspace, name: str, target: str, *, clock) -> KmsAlias:
    if not name.startswith("alias/") or len(name) > 256 or len(name) <= len("alias/"):
        raise errors.KmsValidationException(
            f"1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
        )
    if name.startswith("alias/aws/"):
        raise errors.KmsNotAuthorized("Cannot create alias with prefix 'alias/aws/'")
    key = resolve(workspace, target, clock=clock)
    if KmsAlias.objects.filter(workspace=workspace, name=name).exists():
        raise errors.KmsAlreadyExistsException(f"An alias with the name {name} already exists")
    alias = KmsAlias.objects.create(workspace=workspace, name=name, key=key)
    events.record(
        workspace, "key.alias_created", data={"alias": name, "key": key.key_id}, clock=clock
    )
    return alias


# --- data keys (what SQS asks KMS for) ----------------------------------------------------


def _usable(key: KmsKey, *actions: str) -> None:
    """SQS's view of a key it cannot use for `actions` (sqs.md §11: Kms* errors)."""
    if not key.enabled:
        raise errors.KmsDisabled(
            f"The request was rejected because the specified KMS key {key_arn(key)} is not enabled."
        )
    if (key.key_spec, key.key_usage) != (SYMMETRIC, ENCRYPT_DECRYPT):
        raise errors.KmsInvalidKeyUsage(
            f"The request was rejected because the KMS key {key_arn(key)} is a {key.key_spec} "
            f"key for {key.key_usage}: SQS encrypts with symmetric ENCRYPT_DECRYPT keys only."
        )
    if key.manager == "SQS":
        return
    document = policy_of(key)
    for action in actions:
        if not key_policy.allows(document, action, key.workspace.account_id):
            raise errors.KmsAccessDenied(
                f"The caller doesn't have the required KMS access: the key policy of "
                f"{key_arn(key)} does not allow {action}."
            )


def _master(key: KmsKey) -> AESGCM:
    try:
        return AESGCM(_open(_root(), base64.b64decode(key.material), key.key_id.encode()))
    except InvalidTag:
        raise errors.KmsInvalidState(
            f"The KMS key {key_arn(key)} cannot be opened: the server's SECRET_KEY is not the "
            "one it was made under."
        ) from None


def _spend_quota(key: KmsKey, requests: int) -> None:
    """Count requests against the account's KMS quota; KmsThrottled past it.

    AWS-owned keys (the SQS-owned one) do not count against an account's quota.
    """
    workspace = key.workspace
    counter = f"kms-requests:{workspace.account_id}"
    now = time.time()
    try:
        total = counters.count(counter, calls=requests, now=now)
        if total > workspace.kms_request_quota:
            # A throttled request is not served, so it takes nothing from the quota.
            counters.count(counter, calls=-requests, now=now)
    except redis.RedisError:
        log.warning("could not count a KMS request; letting it through", exc_info=True)
        return
    if total > workspace.kms_request_quota:
        raise errors.KmsThrottled(
            f"KMS throttled the request: account {workspace.account_id} makes more than "
            f"{workspace.kms_request_quota:,} cryptographic requests a second (its KMS request "
            "quota). A longer KmsDataKeyReusePeriodSeconds makes SQS call KMS less often."
        )


def _request(key: KmsKey, *actions: str) -> None:
    """One KMS request per action, made by SQS for a principal: opt-in, quota, then the
    key's checks. The SQS-owned key is SQS's own, outside the account's KMS."""
    if key.manager != "SQS":
        if not key.workspace.kms_opted_in:
            raise errors.KmsOptInRequired(
                f"SQS could not use {key_arn(key)}: account {key.workspace.account_id} is "
                "not opted in to AWS KMS (KMS answered OptInRequired)."
            )
        _spend_quota(key, len(actions))
    _usable(key, *actions)


def generate_data_key(key: KmsKey) -> tuple[bytes, str]:
    """A fresh 256-bit data key and its wrapped form ("<key pk>:<base64>").

    SQS asks KMS GenerateDataKey, then Decrypt to check what it got: two
    requests, with the sender's credentials, so the key policy must allow the
    sender both (what AWS tells producers to grant).
    """
    _request(key, "kms:GenerateDataKey", "kms:Decrypt")
    plain = os.urandom(32)
    wrapped = _seal(_master(key), plain, b"data-key")
    return plain, f"{key.pk}:{base64.b64encode(wrapped).decode()}"


def key_of(wrapped: str, *, keys: dict | None = None) -> KmsKey:
    """The KMS key a wrapped data key names; KmsNotFound when it is gone."""
    key_pk = wrapped.partition(":")[0]
    key = (keys or {}).get(key_pk)
    if key is None and key_pk.isdigit():
        key = _sqs_owned_by_pk.get(int(key_pk))
    if key is None:
        key = KmsKey.objects.select_related("workspace").filter(pk=int(key_pk)).first()
        if key is None:
            raise errors.KmsNotFound(
                "The request was rejected because the specified entity or resource could not "
                "be found."
            )
        if keys is not None:
            keys[key_pk] = key
    return key


def decrypt(key: KmsKey, wrapped: str) -> bytes:
    """KMS Decrypt of a wrapped data key: one request; KmsDisabled etc. when the key says no."""
    _request(key, "kms:Decrypt")
    return reopen(key, wrapped)


def check_decrypt(key: KmsKey) -> None:
    """Whether a receiver could decrypt with the key, without making a request (the inspector)."""
    _usable(key, "kms:Decrypt")


def reopen(key: KmsKey, wrapped: str) -> bytes:
    """A data key SQS already holds, opened again locally: no KMS request, no key check."""
    return _open(_master(key), base64.b64decode(wrapped.partition(":")[2]), b"data-key")
