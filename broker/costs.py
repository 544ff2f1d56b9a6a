"""What a run costs at AWS list prices: usage counters per workspace, and the bill.

Counted where the work happens: SQS requests made through the endpoint
(`broker/api/views.py`), with the queue page's buttons, and by the Lambda pollers
(`broker/lambdas/invocations.py`), each 64 KB chunk of a send's payload one request;
Lambda requests and GB-seconds; SNS publishes (64 KB chunks) and delivery attempts by
protocol; KMS requests, of the KMS API and SQS's data keys. A run starts when its
workspace is created and again at each `reset`.

The counts live in one Redis hash per workspace, not in a database row: a counter row
updated inside every request's transaction would serialise all of a workspace's
writers on it, where Redis increments are atomic and cheap. A process merges its
counts in memory and writes them in one pipeline when the transaction that made them
commits (at once outside a transaction), and before that transaction's events are
published (`events.publish`), so a page redrawn for an event already sees what the
event cost. One round trip per transaction, however many messages, receives and
deliveries it counted. A request that reached the service counts even if its
transaction rolled back afterwards: it was made. Counting never fails the work it
counts: a Redis error is logged and the counts wait for the next write.

Prices: AWS list prices, us-east-1, on demand, x86, without the free tier.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from broker import wakeup

log = logging.getLogger(__name__)

# SQS bills "each 64 KB chunk of a payload" as one request; a request is at least one.
CHUNK_BYTES = 64 * 1024
# An idle workspace's counters go after this long (its last write renews them).
KEEP_FOR_SECONDS = 90 * 24 * 3600

MILLION = 1_000_000
# Amazon SQS, per request: $0.40 per million (standard queues), $0.50 (FIFO), the
# first tier (up to 100 billion requests a month).
# https://cloudburn.io/blog/amazon-sqs-pricing (us-east-1, March 2026), matching
# https://www.factualminds.com/blog/amazon-sqs-pricing-64kb-rule-fifo-vs-standard/
SQS_STANDARD = Decimal("0.40") / MILLION
SQS_FIFO = Decimal("0.50") / MILLION
# AWS Lambda, x86: $0.20 per million requests, $0.0000166667 per GB-second, duration
# rounded up to the millisecond.
# https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html,
# https://aws.amazon.com/lambda/pricing/ (which also rounds it to $0.00001667)
LAMBDA_REQUEST = Decimal("0.20") / MILLION
LAMBDA_GB_SECOND = Decimal("0.0000166667")
# Amazon SNS, standard topics: $0.50 per million publishes (64 KB chunks), HTTP/S
# deliveries $0.60 per million, email $2.00 per 100,000; SMS depends on the country
# and its carriers: not priced here.
# https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/
# Deliveries to SQS queues and Lambda functions are free (https://aws.amazon.com/sns/
# pricing/; no stored copy of it was found). FIFO topics ($0.30 per million and a
# charge per GB, says the article) are billed here as standard ones.
SNS_PUBLISH = Decimal("0.50") / MILLION
SNS_HTTP = Decimal("0.60") / MILLION
SNS_EMAIL = Decimal("2.00") / 100_000
# AWS KMS: $0.03 per 10,000 requests (the key's own $1 a month is left out).
# https://aws.amazon.com/kms/pricing/, https://www.wring.co/blog/aws-kms-pricing-guide
KMS_REQUEST = Decimal("0.03") / 10_000

# The hash's fields, all integers. The trigger_* and poller_* ones are for the
# batching comparison; the poller's requests are also in sqs_requests/sqs_fifo_requests.
COUNTERS = (
    "sqs_requests",
    "sqs_fifo_requests",
    "lambda_requests",
    "lambda_mb_ms",  # billed milliseconds × memory MB: exact, unlike float GB-seconds
    "sns_publishes",
    "sns_sqs_deliveries",
    "sns_lambda_deliveries",
    "sns_http_deliveries",
    "sns_email_deliveries",
    "sns_sms_deliveries",
    "kms_requests",
    "trigger_invocations",  # finished invocations of a trigger's batches
    "trigger_records",
    "trigger_ms",
    "trigger_mb_ms",
    "poller_receives",
    "poller_empty_receives",
    "poller_received",  # messages the pollers received
    "poller_deletes",
    "poller_deleted",
    "poller_fifo_requests",
)
_DELIVERY_COUNTER = {
    "sqs": "sns_sqs_deliveries",
    "lambda": "sns_lambda_deliveries",
    "http": "sns_http_deliveries",
    "https": "sns_http_deliveries",
    "email": "sns_email_deliveries",
    "email-json": "sns_email_deliveries",
    "sms": "sns_sms_deliveries",
}

_pending: dict[str, Counter] = {}
_lock = threading.Lock()


def _key(workspace_or_pk) -> str:
    # Keyed by database too, as `wakeup.touched_key` is: stacks may share a Redis.
    pk = getattr(workspace_or_pk, "pk", workspace_or_pk)
    return f"playground:usage:{connection.settings_dict['NAME']}:{pk}"


def chunks(payload_bytes: int) -> int:
    """Requests a payload is billed as: one per 64 KB chunk begun, at least one."""
    return max(1, math.ceil(payload_bytes / CHUNK_BYTES))


# --- counting -------------------------------------------------------------------


def add(workspace_or_pk, **amounts: int) -> None:
    """Add to a workspace's counters (names from COUNTERS); written when the current
    transaction commits, or at once outside one. Never raises."""
    try:
        key = _key(workspace_or_pk)
        with _lock:
            _pending.setdefault(key, Counter()).update(amounts)
        if connection.in_atomic_block:
            # One hook per add is cheap: the first to run writes everything pending.
            transaction.on_commit(flush, robust=True)
        else:
            flush()
    except Exception:  # a count must never fail the request it counts
        log.warning("could not count usage %s", amounts, exc_info=True)


def flush() -> None:
    """Write this process's pending counts in one pipeline; keep them on a failure."""
    global _pending
    with _lock:
        batch, _pending = _pending, {}
    if not batch:
        return
    try:
        pipe = wakeup.redis_client().pipeline()
        for key, counts in batch.items():
            for name, amount in counts.items():
                if amount:
                    pipe.hincrby(key, name, amount)
            pipe.expire(key, KEEP_FOR_SECONDS)
        pipe.execute()
    except Exception:  # Redis is down: the counts wait for the next write
        log.warning("could not write usage counts to Redis", exc_info=True)
        with _lock:
            for key, counts in batch.items():
                _pending.setdefault(key, Counter()).update(counts)


def sqs_request(workspace_or_pk, *, fifo: bool, payload_bytes: int = 0) -> None:
    """One SQS API request; a send counts its body and attributes by 64 KB chunks."""
    name = "sqs_fifo_requests" if fifo else "sqs_requests"
    add(workspace_or_pk, **{name: chunks(payload_bytes)})


def api_request(workspace, service: str, *, queue_name: str, payload_bytes: int) -> None:
    """A request that reached the endpoint's `service` (SigV4's name). SNS publishes
    and Lambda invocations are counted where they happen, since the playground's pages
    make them too; other SNS and Lambda actions are free."""
    if service == "sqs":
        sqs_request(workspace, fifo=queue_name.endswith(".fifo"), payload_bytes=payload_bytes)
    elif service == "kms":
        add(workspace, kms_requests=1)


def poller_receive(queue, received: int) -> None:
    """One ReceiveMessage by a trigger's poller: AWS bills it to the queue's owner."""
    add(
        queue.workspace_id,
        **{"sqs_fifo_requests" if queue.is_fifo else "sqs_requests": 1},
        poller_receives=1,
        poller_empty_receives=0 if received else 1,
        poller_received=received,
        poller_fifo_requests=1 if queue.is_fifo else 0,
    )


def poller_delete(queue, deleted: int) -> None:
    """One DeleteMessageBatch by a trigger's poller, for up to ten records."""
    add(
        queue.workspace_id,
        **{"sqs_fifo_requests" if queue.is_fifo else "sqs_requests": 1},
        poller_deletes=1,
        poller_deleted=deleted,
        poller_fifo_requests=1 if queue.is_fifo else 0,
    )


def billed_ms(duration: float) -> int:
    """Lambda bills duration rounded up to the millisecond (as the REPORT line says)."""
    return math.ceil(round(duration * 1000, 6))


def invocation_finished(invocation, *, duration: float, records: int) -> None:
    """An invocation's GB-seconds; with a trigger's batch, what the comparison needs."""
    ms = billed_ms(duration)
    mb_ms = ms * int(invocation.config["memory_size"])
    amounts = {"lambda_mb_ms": mb_ms}
    if invocation.queue_id is not None:
        amounts.update(
            trigger_invocations=1, trigger_records=records, trigger_ms=ms, trigger_mb_ms=mb_ms
        )
    add(invocation.workspace_id, **amounts)


def sns_publish(workspace_or_pk, *, payload_bytes: int) -> None:
    add(workspace_or_pk, sns_publishes=chunks(payload_bytes))


def sns_delivery(workspace_or_pk, protocol: str) -> None:
    """One delivery attempt made to an endpoint (retries count again, as on AWS)."""
    add(workspace_or_pk, **{_DELIVERY_COUNTER.get(protocol, "sns_http_deliveries"): 1})


# --- reading and starting runs -----------------------------------------------


def usage(workspace) -> dict:
    """The run's counters (every name of COUNTERS, 0 when unused) and `started_at`,
    its simulated start (None when unknown: Redis lost it). This process's pending
    counts are written first."""
    flush()
    try:
        raw = wakeup.redis_client().hgetall(_key(workspace))
    except Exception:
        log.warning("could not read the usage of workspace %s", workspace.pk, exc_info=True)
        raw = {}
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    counts: dict = {name: int(fields.get(name, 0)) for name in COUNTERS}
    started = fields.get("started_at")
    counts["started_at"] = float(started) if started else None
    return counts


def start_run(workspace, *, now: float) -> None:
    """Zero the counters and note when this run started (simulated seconds)."""
    key = _key(workspace)
    with _lock:
        _pending.pop(key, None)
    try:
        pipe = wakeup.redis_client().pipeline()
        pipe.delete(key)
        pipe.hset(key, "started_at", repr(now))
        pipe.expire(key, KEEP_FOR_SECONDS)
        pipe.execute()
    except Exception:
        log.warning("could not start a new run for workspace %s", workspace.pk, exc_info=True)


def reset(workspace, *, clock) -> None:
    """Start a new run now, on the workspace clock; records `account.costs_reset`."""
    from broker import events  # events imports this module: loaded when first used

    now = clock.now()
    start_run(workspace, now=now)
    events.record(workspace, "account.costs_reset", data={"started_at": now}, clock=clock)


# --- the bill ----------------------------------------------------------------------


# The bill's lines, in order: (counter, line item, unit, price per unit or None when
# not priced, how AWS quotes the price: per how many units).
PRICE_LIST = (
    ("sqs_requests", "SQS requests · standard queues", "requests", SQS_STANDARD, MILLION),
    ("sqs_fifo_requests", "SQS requests · FIFO queues", "requests", SQS_FIFO, MILLION),
    ("lambda_requests", "Lambda requests", "requests", LAMBDA_REQUEST, MILLION),
    ("lambda_mb_ms", "Lambda duration", "GB-seconds", LAMBDA_GB_SECOND, 1),
    ("sns_publishes", "SNS publishes (64 KB chunks)", "requests", SNS_PUBLISH, MILLION),
    ("sns_sqs_deliveries", "SNS deliveries to SQS", "deliveries", Decimal(0), MILLION),
    ("sns_lambda_deliveries", "SNS deliveries to Lambda", "deliveries", Decimal(0), MILLION),
    ("sns_http_deliveries", "SNS deliveries over HTTP/S", "deliveries", SNS_HTTP, MILLION),
    ("sns_email_deliveries", "SNS email deliveries", "deliveries", SNS_EMAIL, 100_000),
    ("sns_sms_deliveries", "SNS SMS deliveries", "texts", None, 1),
    ("kms_requests", "KMS requests", "requests", KMS_REQUEST, 10_000),
)


@dataclass(frozen=True)
class Line:
    key: str  # its counter
    item: str
    quantity: Decimal
    unit: str  # what one of `quantity` is, plural: "requests", "GB-seconds"
    price: Decimal | None  # per unit; None: not priced here
    per: int  # how the price is quoted: per million for "$0.40 per million requests"

    @property
    def cost(self) -> Decimal | None:
        return None if self.price is None else self.quantity * self.price

    @property
    def quoted_price(self) -> Decimal | None:
        return None if self.price is None else self.price * self.per


@dataclass(frozen=True)
class Bill:
    lines: list[Line]  # those with a quantity
    total: Decimal  # of the priced lines
    started_at: float | None

    def line(self, key: str) -> Line | None:
        return next((line for line in self.lines if line.key == key), None)


def gb_seconds(mb_ms: int) -> Decimal:
    return Decimal(mb_ms) / 1024 / 1000


def bill(usage: dict) -> Bill:
    """The run's line items at list prices, and their total."""
    lines = []
    for key, item, unit, price, per in PRICE_LIST:
        if usage[key]:
            amount = gb_seconds(usage[key]) if key == "lambda_mb_ms" else Decimal(usage[key])
            lines.append(Line(key, item, amount, unit, price, per))
    total = sum((line.cost for line in lines if line.cost is not None), Decimal(0))
    return Bill(lines, total, usage["started_at"])


@dataclass(frozen=True)
class Row:
    item: str
    actual: Decimal
    at_one: Decimal  # at BatchSize 1
    price: Decimal


@dataclass(frozen=True)
class Batching:
    """The run's trigger work beside an estimate of the same records at BatchSize 1."""

    records: int
    invocations: int
    average_batch: Decimal
    average_seconds: Decimal  # of an invocation, billed
    rows: list[Row]
    actual: Decimal
    at_one: Decimal

    @property
    def saved(self) -> Decimal:
        return self.at_one - self.actual

    @property
    def saved_percent(self) -> int:
        return round(self.saved / self.at_one * 100) if self.at_one else 0

    def per_million_records(self, cost: Decimal) -> Decimal:
        return cost / self.records * MILLION


def batching(usage: dict) -> Batching | None:
    """What the records the triggers delivered in this run cost, beside one invocation
    per record, each as long as this run's average invocation, with one
    ReceiveMessage and one DeleteMessage per record. None before any trigger's
    invocation finished."""
    u = usage
    invocations, records = u["trigger_invocations"], u["trigger_records"]
    if not invocations or not records:
        return None
    gbs = gb_seconds(u["trigger_mb_ms"])
    poller = u["poller_receives"] + u["poller_deletes"]
    fifo_share = Decimal(u["poller_fifo_requests"]) / poller if poller else Decimal(0)
    sqs_price = SQS_FIFO * fifo_share + SQS_STANDARD * (1 - fifo_share)
    rows = [
        Row("Lambda requests", Decimal(invocations), Decimal(records), LAMBDA_REQUEST),
        Row("Lambda GB-seconds", gbs, gbs / invocations * records, LAMBDA_GB_SECOND),
        Row(
            "SQS receives",
            Decimal(u["poller_receives"]),
            Decimal(u["poller_received"] + u["poller_empty_receives"]),
            sqs_price,
        ),
        Row("SQS deletes", Decimal(u["poller_deletes"]), Decimal(u["poller_deleted"]), sqs_price),
    ]
    return Batching(
        records=records,
        invocations=invocations,
        average_batch=Decimal(records) / invocations,
        average_seconds=Decimal(u["trigger_ms"]) / invocations / 1000,
        rows=rows,
        actual=sum((r.actual * r.price for r in rows), Decimal(0)),
        at_one=sum((r.at_one * r.price for r in rows), Decimal(0)),
    )
