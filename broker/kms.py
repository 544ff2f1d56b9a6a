"""A workspace's KMS keys: create, describe, list, disable/enable, alias; data keys.

Just enough of AWS KMS for SQS server-side encryption and for boto3 to manage
keys (CreateKey, DescribeKey, ListKeys, DisableKey, EnableKey, CreateAlias,
ListAliases). Keys are real: each holds 32 random bytes of key material, itself
stored encrypted (AES-GCM) under a root key derived from the server's
SECRET_KEY, so the database alone does not open a message. `data_key` makes a
fresh AES-256 data key and returns it with its wrapped form; `unwrap` opens a
wrapped one and fails as AWS does when its key is disabled.

Two keys exist without CreateKey: `alias/aws/sqs` (the AWS-managed key for SQS,
made on first use, listed, never disabled) and the SQS-owned key behind
SqsManagedSseEnabled (not listed: AWS does not show it either).
"""

from __future__ import annotations

import base64
import os
import uuid
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction

from broker import errors, events
from broker.models import KmsAlias, KmsKey

AWS_SQS_ALIAS = "alias/aws/sqs"
SQS_OWNED = "sqs-owned"  # the description that marks the SQS-owned key
MAX_LIST = 1000


@cache
def _root() -> AESGCM:
    secret = settings.SECRET_KEY.encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"sqs-sns-playground kms root").derive(secret)
    return AESGCM(key)


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return aead.decrypt(sealed[:12], sealed[12:], aad)


def key_arn(key: KmsKey) -> str:
    ws = key.workspace
    return f"arn:aws:kms:{ws.region}:{ws.account_id}:key/{key.key_id}"


def _new_key(workspace, *, description: str, manager: str, clock) -> KmsKey:
    key_id = str(uuid.uuid4())
    material = _seal(_root(), os.urandom(32), key_id.encode())
    return KmsKey.objects.create(
        workspace=workspace, key_id=key_id, description=description, manager=manager,
        material=base64.b64encode(material).decode(), created_at=clock.now(),
    )


@transaction.atomic
def create_key(workspace, *, description: str = "", clock) -> KmsKey:
    if len(description) > 8192:
        raise errors.KmsValidationException("Description must be at most 8192 characters.")
    key = _new_key(workspace, description=description, manager="CUSTOMER", clock=clock)
    events.record(workspace, "kms.key_created", data={"key": key.key_id}, clock=clock)
    return key


def _aws_managed_sqs_key(workspace, *, clock) -> KmsKey:
    alias = KmsAlias.objects.filter(workspace=workspace, name=AWS_SQS_ALIAS).first()
    if alias is not None:
        return alias.key
    try:
        with transaction.atomic():
            key = _new_key(workspace, description="Default key that protects my SQS messages "
                           "when no other key is defined", manager="AWS", clock=clock)
            KmsAlias.objects.create(workspace=workspace, name=AWS_SQS_ALIAS, key=key)
            return key
    except IntegrityError:  # made by a concurrent first use
        return KmsAlias.objects.get(workspace=workspace, name=AWS_SQS_ALIAS).key


def sqs_owned_key(workspace, *, clock) -> KmsKey:
    """The key behind SqsManagedSseEnabled (one per workspace, never listed)."""
    key = KmsKey.objects.filter(workspace=workspace, manager="SQS").first()
    return key or _new_key(workspace, description=SQS_OWNED, manager="SQS", clock=clock)


def resolve(workspace, ref: str, *, clock) -> KmsKey:
    """A key by id, key ARN, alias name or alias ARN; NotFoundException otherwise."""
    ref = (ref or "").strip()
    prefix = f"arn:aws:kms:{workspace.region}:{workspace.account_id}:"
    if ref.startswith(prefix):
        ref = ref[len(prefix):]
        ref = ref[len("key/"):] if ref.startswith("key/") else ref
    if ref == AWS_SQS_ALIAS:
        return _aws_managed_sqs_key(workspace, clock=clock)
    if ref.startswith("alias/"):
        alias = KmsAlias.objects.filter(workspace=workspace, name=ref).select_related(
            "key__workspace").first()
        if alias is None:
            raise errors.KmsNotFoundException(f"Alias {prefix}{ref} is not found.")
        return alias.key
    key = (KmsKey.objects.filter(workspace=workspace, key_id=ref).exclude(manager="SQS")
           .select_related("workspace").first())
    if key is None:
        raise errors.KmsNotFoundException(f"Key '{prefix}key/{ref}' does not exist")
    return key


def list_keys(workspace) -> list[KmsKey]:
    return list(KmsKey.objects.filter(workspace=workspace).exclude(manager="SQS")
                .select_related("workspace").order_by("created_at", "pk")[:MAX_LIST])


def list_aliases(workspace) -> list[KmsAlias]:
    return list(KmsAlias.objects.filter(workspace=workspace).select_related("key__workspace")
                .order_by("name"))


@transaction.atomic
def set_enabled(workspace, ref: str, enabled: bool, *, clock) -> KmsKey:
    """DisableKey / EnableKey. An AWS-managed key cannot be changed."""
    key = resolve(workspace, ref, clock=clock)
    if key.manager != "CUSTOMER":
        raise errors.KmsInvalidStateException(
            f"{key_arn(key)} is an AWS managed key: it cannot be disabled or enabled.")
    if key.enabled != enabled:
        key.enabled = enabled
        key.save(update_fields=["enabled"])
        events.record(workspace, "kms.key_enabled" if enabled else "kms.key_disabled",
                      data={"key": key.key_id}, clock=clock)
    return key


@transaction.atomic
def create_alias(workspace, name: str, target: str, *, clock) -> KmsAlias:
    if not name.startswith("alias/") or len(name) > 256 or len(name) <= len("alias/"):
        raise errors.KmsValidationException(
            f"1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$")
    if name.startswith("alias/aws/"):
        raise errors.KmsNotAuthorized("Cannot create alias with prefix 'alias/aws/'")
    key = resolve(workspace, target, clock=clock)
    if KmsAlias.objects.filter(workspace=workspace, name=name).exists():
        raise errors.KmsAlreadyExistsException(
            f"An alias with the name {name} already exists")
    alias = KmsAlias.objects.create(workspace=workspace, name=name, key=key)
    events.record(workspace, "kms.alias_created", data={"alias": name, "key": key.key_id},
                  clock=clock)
    return alias


# --- data keys (what SQS asks KMS for) ----------------------------------------------------


def _usable(key: KmsKey) -> None:
    """SQS's view of a key it cannot use (sqs.md §11: Kms* errors)."""
    if not key.enabled:
        raise errors.KmsDisabled(
            f"The request was rejected because the specified KMS key {key_arn(key)} is "
            "not enabled.")


def _master(key: KmsKey) -> AESGCM:
    try:
        return AESGCM(_open(_root(), base64.b64decode(key.material), key.key_id.encode()))
    except InvalidTag:
        raise errors.KmsInvalidState(
            f"The KMS key {key_arn(key)} cannot be opened: the server's SECRET_KEY is not the "
            "one it was made under.") from None


def data_key(key: KmsKey) -> tuple[bytes, str]:
    """A fresh 256-bit data key and its wrapped form ("<key pk>:<base64>")."""
    _usable(key)
    plain = os.urandom(32)
    wrapped = _seal(_master(key), plain, b"data-key")
    return plain, f"{key.pk}:{base64.b64encode(wrapped).decode()}"


def unwrap(wrapped: str, *, keys: dict | None = None) -> bytes:
    """Open a wrapped data key; KmsDisabled / KmsNotFound when its key cannot be used."""
    key_pk, _, blob = wrapped.partition(":")
    key = (keys or {}).get(key_pk)
    if key is None:
        key = KmsKey.objects.select_related("workspace").filter(pk=int(key_pk)).first()
        if key is None:
            raise errors.KmsNotFound(
                "The request was rejected because the specified entity or resource could not "
                "be found.")
        if keys is not None:
            keys[key_pk] = key
    _usable(key)
    return _open(_master(key), base64.b64decode(blob), b"data-key")
