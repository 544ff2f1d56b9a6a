"""The data key reuse period (KmsDataKeyReusePeriodSeconds): how often SQS asks KMS.

As AWS documents it: a principal's first send to an SSE-KMS queue has SQS call
KMS GenerateDataKey, and Decrypt to check the new key; its next sends reuse that
data key without calling KMS until the reuse period ends. A receiver calls
Decrypt once per data key and period the same way. Principals do not share data
keys. So KMS sees about 2 requests per sender and 1 per receiver per period
(AWS's cost formula R = B / D × (2P + C)), and a key disabled or a key policy
changed shows only once a cached data key runs out.

A principal is the caller's access key id, the console, or a Lambda function's
poller (`principal_of`). The SQS-owned key behind SSE-SQS is not KMS's to count:
it gives each send a fresh data key and opens every message, as before.
"""

from __future__ import annotations

import hashlib

from django.db.models import Count

from broker import costs, events
from broker.kms import keys
from broker.models import CachedDataKey, KmsKey, Queue

ENCRYPT, DECRYPT = CachedDataKey.Use.ENCRYPT, CachedDataKey.Use.DECRYPT


def principal_of(actor: str) -> str:
    """Whose data keys: an API caller's access key id ("boto3 · AKIA…"), else the actor."""
    return actor.rpartition(" · ")[2] or "anonymous"


def _digest(wrapped: str) -> str:
    return hashlib.sha256(wrapped.encode()).hexdigest()


def for_sealing(queue: Queue, key: KmsKey, principal: str, *, clock) -> tuple[bytes, str]:
    """The data key (plain, wrapped) that seals `principal`'s sends to `queue` now."""
    if key.manager == "SQS":
        return keys.generate_data_key(key)
    now = clock.now()
    cached = (
        CachedDataKey.objects.filter(
            queue=queue, use=ENCRYPT, principal=principal, key=key, expires_at__gt=now
        )
        .order_by("-expires_at")
        .first()
    )
    if cached is not None:
        return keys.reopen(key, cached.wrapped), cached.wrapped
    plain, wrapped = keys.generate_data_key(key)
    _remember(queue, key, principal, ENCRYPT, wrapped, clock=clock)
    return plain, wrapped


def for_opening(queue: Queue, key: KmsKey, wrapped: str, principal: str, *, clock) -> bytes:
    """The plain data key `principal` reads `queue`'s messages sealed under `wrapped` with."""
    if key.manager == "SQS":
        return keys.decrypt(key, wrapped)
    held = CachedDataKey.objects.filter(
        queue=queue,
        use=DECRYPT,
        principal=principal,
        digest=_digest(wrapped),
        expires_at__gt=clock.now(),
    )
    if held.exists():
        return keys.reopen(key, wrapped)
    plain = keys.decrypt(key, wrapped)
    _remember(queue, key, principal, DECRYPT, wrapped, clock=clock)
    return plain


def requests_by_key(workspace) -> dict[int, tuple[int, int]]:
    """{KMS key pk: (GenerateDataKey, Decrypt) requests SQS made with it}."""
    counts: dict[int, tuple[int, int]] = {}
    rows = (
        CachedDataKey.objects.filter(key__workspace=workspace)
        .values("key_id", "use")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        generate, decrypt = counts.get(row["key_id"], (0, 0))
        if row["use"] == ENCRYPT:  # a new data key: GenerateDataKey, then Decrypt to check it
            generate, decrypt = generate + row["n"], decrypt + row["n"]
        else:
            decrypt += row["n"]
        counts[row["key_id"]] = (generate, decrypt)
    return counts


def _remember(queue: Queue, key: KmsKey, principal: str, use: str, wrapped: str, *, clock) -> None:
    until = clock.now() + queue.kms_data_key_reuse_period
    CachedDataKey.objects.create(
        queue=queue,
        key=key,
        principal=principal,
        use=use,
        wrapped=wrapped,
        digest=_digest(wrapped),
        expires_at=until,
    )
    # A new data key is GenerateDataKey, then a Decrypt to check it (`requests_by_key`).
    costs.add(queue.workspace_id, kms_requests=2 if use == ENCRYPT else 1)
    kind = "key.data_key_generated" if use == ENCRYPT else "key.data_key_decrypted"
    events.record(
        queue.workspace,
        kind,
        queue=queue.name,
        clock=clock,
        data={
            "key": key.key_id,
            "principal": principal,
            "reused_until": until,
            "requests": 2 if use == ENCRYPT else 1,
        },
    )
