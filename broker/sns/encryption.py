"""A topic's server-side encryption (KmsMasterKeyId, sns.md §1.1).

Each publish to such a topic asks KMS for a data key (GenerateDataKey, then Decrypt:
two requests against the account's quota, as SQS's are), so a disabled, missing or
denying key fails Publish with SNS's KMS error and nothing is delivered. What the topic
keeps, the messages of deliveries waiting for a retry, is sealed with that data key
(AES-256-GCM) and opened again at the retry with a KMS Decrypt: a key disabled
meanwhile fails the retry, and the message is discarded.
"""

from __future__ import annotations

import base64
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import errors
from broker.kms import keys
from broker.models import Topic

SNS_ERRORS = {
    errors.KmsDisabled: errors.SnsKMSDisabled,
    errors.KmsNotFound: errors.SnsKMSNotFound,
    errors.KmsAccessDenied: errors.SnsKMSAccessDenied,
    errors.KmsInvalidState: errors.SnsKMSInvalidState,
    errors.KmsInvalidKeyUsage: errors.SnsKMSInvalidState,
    errors.KmsThrottled: errors.SnsKMSThrottling,
    errors.KmsOptInRequired: errors.SnsKMSOptInRequired,
}


def as_sns(error: errors.KmsFailure) -> errors.SnsKmsFailure:
    """SQS's view of a KMS refusal, in SNS's codes (the text says which key and why)."""
    return SNS_ERRORS.get(type(error), errors.SnsKMSInvalidState)(
        error.message.replace("SQS", "SNS")
    )


def data_key(topic: Topic, *, clock) -> tuple[bytes, str] | None:
    """A fresh data key for one publish (plain, wrapped), or None for a topic without a
    KMS key. SNS's KMS errors when KMS refuses."""
    ref = topic.attributes.get("KmsMasterKeyId")
    if not ref:
        return None
    try:
        key = keys.resolve(topic.workspace, ref, clock=clock)
    except errors.KmsNotFoundException:
        raise errors.SnsKMSNotFound(
            f"The request was rejected because the specified KMS key {ref} could not be found."
        ) from None
    try:
        return keys.generate_data_key(key)
    except errors.KmsFailure as error:
        raise as_sns(error) from None


def seal(plain: dict, sealing: tuple[bytes, str], message_id: str) -> dict:
    key, wrapped = sealing
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(plain).encode(), message_id.encode())
    return {"sealed": base64.b64encode(nonce + sealed).decode(), "wrapped": wrapped}


def open_sealed(payload: dict, message_id: str) -> dict:
    """What `seal` sealed; KmsFailure (SQS's classes) when KMS refuses the Decrypt."""
    wrapped = payload["wrapped"]
    key = keys.decrypt(keys.key_of(wrapped), wrapped)
    raw = base64.b64decode(payload["sealed"])
    return json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], message_id.encode()))
