"""Server-side encryption of messages at rest: envelope encryption with AES-GCM.

A queue with SqsManagedSseEnabled (the default) seals its messages under the
SQS-owned key of the workspace; a queue with KmsMasterKeyId under that KMS key
(`broker/kms/keys.py`). A send seals the message's body and attributes with a data
key (AES-256-GCM, the message id as associated data) and keeps the data key
wrapped beside them; opening needs the key again. Which data key, and when SQS
must ask KMS rather than reuse one, is the reuse period's (`broker/kms/data_keys.py`):
a disabled key fails sends and receives with KmsDisabled once the cached data
keys run out, as on AWS.
A queue with neither stores plaintext. Requests to an encrypted queue must be
signed with Signature Version 4 (`require_sigv4`).
"""

from __future__ import annotations

import base64
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import errors
from broker.kms import data_keys, keys
from broker.models import KmsKey, Message, Queue


def key_for(queue: Queue, *, clock) -> KmsKey | None:
    """The key that seals new messages of `queue`, or None for plaintext."""
    if queue.kms_master_key_id:
        try:
            return keys.resolve(queue.workspace, queue.kms_master_key_id, clock=clock)
        except errors.KmsNotFoundException:
            raise errors.KmsNotFound(
                f"The request was rejected because the specified KMS key "
                f"{queue.kms_master_key_id} could not be found."
            ) from None
    if queue.sqs_managed_sse:
        return keys.sqs_owned_key(queue.workspace, clock=clock)
    return None


def require_sigv4(queue: Queue, signature_version: int) -> None:
    """AWS: "All requests to queues with SSE enabled must use HTTPS and Signature Version 4".

    Only the signature is checked: the playground serves plain HTTP on loopback.
    """
    if signature_version != 4 and (queue.kms_master_key_id or queue.sqs_managed_sse):
        raise errors.InvalidSecurity(
            "All requests to queues with server-side encryption must use HTTPS and Signature "
            f"Version 4; this one was signed with Signature Version {signature_version}."
        )


def seal(queue: Queue, messages: list[Message], *, principal: str, clock) -> None:
    """Replace each message's body and attributes by their ciphertext (in place)."""
    key = key_for(queue, clock=clock)
    if key is None or not messages:
        return
    plain, wrapped = data_keys.for_sealing(queue, key, principal, clock=clock)
    aead = AESGCM(plain)
    for m in messages:
        payload = json.dumps({"b": m.body, "a": m.attributes}, separators=(",", ":")).encode()
        nonce = os.urandom(12)
        m.sealed = base64.b64encode(
            nonce + aead.encrypt(nonce, payload, m.message_id.encode())
        ).decode()
        m.sealed_key = wrapped
        m.body, m.attributes = "", {}


class Opener:
    """Opens one queue's sealed messages for one principal; one per call, so a batch
    unwraps each data key once.

    Without a principal it is the playground's own inspector (the message table,
    the developer peek endpoint): it shows what an authorised receiver would read,
    or why the key would refuse one, but it is no client of KMS: it makes no
    request and caches nothing.
    """

    def __init__(self, queue: Queue, principal: str | None = None, *, clock=None):
        self.queue, self.principal, self.clock = queue, principal, clock
        self._keys: dict = {}
        self._data_keys: dict[str, AESGCM] = {}

    def open(self, m: Message) -> tuple[str, dict]:
        """(body, attributes) in plaintext; a KmsFailure when the key cannot be used."""
        if not m.sealed:
            return m.body, m.attributes
        aead = self._data_keys.get(m.sealed_key)
        if aead is None:
            aead = AESGCM(self._data_key(m.sealed_key))
            self._data_keys[m.sealed_key] = aead
        raw = base64.b64decode(m.sealed)
        payload = json.loads(aead.decrypt(raw[:12], raw[12:], m.message_id.encode()))
        return payload["b"], payload["a"]

    def _data_key(self, wrapped: str) -> bytes:
        key = keys.key_of(wrapped, keys=self._keys)
        if self.principal is None:
            keys.check_decrypt(key)
            return keys.reopen(key, wrapped)
        return data_keys.for_opening(self.queue, key, wrapped, self.principal, clock=self.clock)


def reseal(target: Queue, messages: list[Message], *, opener: Opener, clock) -> None:
    """Re-encrypt messages that move to `target` (a DLQ, a redrive destination) for it,
    with the data keys of the opener's principal."""
    for m in messages:
        m.body, m.attributes = opener.open(m)
        m.sealed, m.sealed_key = "", ""
    seal(target, messages, principal=opener.principal or "sqs", clock=clock)


def describe(m: Message) -> dict:
    """What the database holds for a message, for the page that shows it."""
    if not m.sealed:
        return {"sealed": False}
    key_pk = m.sealed_key.partition(":")[0]
    key = KmsKey.objects.filter(pk=int(key_pk)).first()
    return {
        "sealed": True,
        "ciphertext": m.sealed,
        "wrapped_key": m.sealed_key.partition(":")[2],
        "key": key,
    }
