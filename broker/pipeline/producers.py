"""Producers: clients outside AWS that call on a schedule (an app, API Gateway).

A producer makes `rate` requests a simulated second, `peak_rate` during its peaks
(the first `peak_length` seconds of every `peak_every`, counted from when it
started), each with a body from its template. Aimed at a queue it sends, at a topic
it publishes, at a function it calls directly and synchronously: a throttled or
failed call is a lost request, where a queue would have held the message.

The ticker claims a producer once its `next_at` has come (`claim_due`) and a worker
runs `produce`, which makes the requests due since `last_at`, at most RUN_LIMIT: a
clock faster than the engine drops the rest, counted in `dropped`.
"""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from broker import arns, costs, errors, events, lambdas, sns, sqs
from broker.lambdas.invocations import REQUEST_STALE_AFTER
from broker.models import Function, Invocation, Producer, Queue, Topic

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_RATE = 1_000.0  # requests a simulated second
RUN_LIMIT = 500  # requests one run makes at most
MAX_PERIOD = 7 * 86_400


def _target(workspace, arn: str) -> Queue | Topic | Function | None:
    parsed = arns.parse(arn)
    if parsed is None or parsed.account != workspace.account_id:
        return None
    if parsed.service == "sqs":
        return Queue.objects.filter(workspace=workspace, name=parsed.resource).first()
    if parsed.service == "sns":
        return Topic.objects.filter(workspace=workspace, name=parsed.resource).first()
    if parsed.service == "lambda" and parsed.resource.startswith("function:"):
        name = parsed.resource.removeprefix("function:")
        return Function.objects.filter(workspace=workspace, name=name).first()
    return None


def target_of(producer: Producer) -> Queue | Topic | Function | None:
    """What the producer calls, or None when it is gone."""
    return _target(producer.workspace, producer.target_arn)


def _number(value, *, field: str, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise errors.InvalidParameterValueException(f"{what} must be a number.", field=field)
    if not low <= value <= high:
        raise errors.InvalidParameterValueException(
            f"{what} must be from {low:g} to {high:,g}.", field=field
        )
    return value


def _check(workspace, values: dict) -> dict:
    """The settings, checked; raises InvalidParameterValueException (field = the form's)."""
    if "name" in values and not NAME_RE.match(values["name"] or ""):
        raise errors.InvalidParameterValueException(
            "A producer name is 1 to 64 letters, digits, hyphens or underscores.", field="name"
        )
    if "target_arn" in values and _target(workspace, values["target_arn"]) is None:
        raise errors.InvalidParameterValueException(
            "Aim it at a queue, topic or function of this workspace.", field="target"
        )
    rate = _number(values["rate"], field="rate", low=0, high=MAX_RATE, what="The rate")
    peak_rate = _number(
        values["peak_rate"], field="peak_rate", low=0, high=MAX_RATE, what="The peak rate"
    )
    every = _number(
        values["peak_every"], field="peak_every", low=0, high=MAX_PERIOD, what="Peaks every"
    )
    length = _number(
        values["peak_length"], field="peak_length", low=0, high=MAX_PERIOD, what="A peak"
    )
    if every and not 0 < length <= every:
        raise errors.InvalidParameterValueException(
            "A peak lasts more than 0 seconds and no longer than the time between peaks.",
            field="peak_length",
        )
    if rate == 0 and not (every and peak_rate):
        raise errors.InvalidParameterValueException(
            "Give it a rate, or peaks with a peak rate: otherwise it never calls.", field="rate"
        )
    if len(values.get("body_template", "")) > 1024:
        raise errors.InvalidParameterValueException(
            "The body template must be at most 1,024 characters.", field="body_template"
        )
    return {
        **values,
        "rate": float(rate),
        "peak_rate": float(peak_rate),
        "peak_every": int(every),
        "peak_length": int(length) if every else 0,
    }


def describe(producer: Producer) -> dict:
    return {
        "target": producer.target_arn,
        "rate": producer.rate,
        "peak_rate": producer.peak_rate,
        "peak_every": producer.peak_every,
        "peak_length": producer.peak_length,
        "enabled": producer.enabled,
    }


def _record(producer: Producer, kind: str, *, clock, data: dict | None = None) -> None:
    events.record(
        producer.workspace,
        kind,
        subject=events.subject("producer", producer.name),
        data=data if data is not None else describe(producer),
        clock=clock,
    )


def create_producer(
    workspace,
    name: str,
    *,
    target_arn: str,
    rate: float = 1.0,
    peak_rate: float = 0.0,
    peak_every: int = 0,
    peak_length: int = 0,
    body_template: str = '{"order": {n}}',
    enabled: bool = True,
    clock,
) -> Producer:
    values = _check(
        workspace,
        {
            "name": name,
            "target_arn": target_arn,
            "rate": rate,
            "peak_rate": peak_rate,
            "peak_every": peak_every,
            "peak_length": peak_length,
            "body_template": body_template,
        },
    )
    now = clock.now()
    try:
        with transaction.atomic():
            producer = Producer(
                workspace=workspace,
                enabled=enabled,
                started_at=now,
                last_at=now,
                next_at=now,
                **values,
            )
            producer.next_at = next_due(producer, after=now)
            producer.save()
            _record(producer, "producer.created", clock=clock)
    except IntegrityError:
        raise errors.ResourceConflictException(
            f"A producer named {name} already exists.", field="name"
        ) from None
    return producer


@transaction.atomic
def update_producer(producer: Producer, *, clock, **changes) -> Producer:
    """Change its rate, peaks, body or target; its schedule restarts from now."""
    current = {
        k: getattr(producer, k)
        for k in ("rate", "peak_rate", "peak_every", "peak_length", "body_template")
    }
    values = _check(producer.workspace, {**current, **changes})
    for key, value in values.items():
        setattr(producer, key, value)
    _restart(producer, now=clock.now())
    producer.save(update_fields=[*values, *SCHEDULE_FIELDS])
    _record(producer, "producer.updated", clock=clock)
    return producer


@transaction.atomic
def set_enabled(producer: Producer, enabled: bool, *, clock) -> Producer:
    """Start or stop it; a producer started again makes nothing for the time it was off."""
    producer.enabled = enabled
    _restart(producer, now=clock.now())
    producer.save(update_fields=["enabled", *SCHEDULE_FIELDS])
    _record(producer, "producer.started" if enabled else "producer.stopped", clock=clock)
    return producer


@transaction.atomic
def delete_producer(producer: Producer, *, clock) -> None:
    workspace, name = producer.workspace, producer.name
    producer.delete()
    events.record(
        workspace, "producer.deleted", subject=events.subject("producer", name), clock=clock
    )


# What a restart sets. Saves name their fields: the totals are a run's to increment,
# and a save of the values read before a run committed would undo its counts.
SCHEDULE_FIELDS = ("started_at", "last_at", "owed", "run_requested_at", "next_at")


def _restart(producer: Producer, *, now: float) -> None:
    producer.started_at = producer.last_at = now
    producer.owed = 0.0
    producer.run_requested_at = None
    producer.next_at = next_due(producer, after=now)


# --- the schedule -------------------------------------------------------------------


def _peak_time(producer: Producer, t: float) -> float:
    """Seconds of peak between the start of its schedule and `t`."""
    if not producer.peak_every:
        return 0.0
    elapsed = max(0.0, t - producer.started_at)
    cycles, into = divmod(elapsed, producer.peak_every)
    return cycles * producer.peak_length + min(into, producer.peak_length)


def expected(producer: Producer, start: float, end: float) -> float:
    """Requests due in (start, end]: the rate, and the peak rate over the peaks in it."""
    peak = _peak_time(producer, end) - _peak_time(producer, start)
    return producer.rate * (end - start - peak) + producer.peak_rate * peak


def in_peak(producer: Producer, t: float) -> bool:
    if not producer.peak_every:
        return False
    return (t - producer.started_at) % producer.peak_every < producer.peak_length


def next_due(producer: Producer, *, after: float) -> float:
    """When its next request is due, or at the latest the next change of rate (the
    start or end of a peak), where it is looked at again."""
    rate = producer.peak_rate if in_peak(producer, after) else producer.rate
    due = after + (1 - producer.owed) / rate if rate > 0 else math.inf
    if producer.peak_every:
        into = (after - producer.started_at) % producer.peak_every
        boundary = producer.peak_length if into < producer.peak_length else producer.peak_every
        due = min(due, after + boundary - into)
    return due


def claim_due(workspace, *, clock, wall_now: float) -> list[int]:
    """Ids of the workspace's enabled producers whose next request is due and whose run
    is not queued (or was queued more than REQUEST_STALE_AFTER wall seconds ago),
    each marked with a conditional UPDATE so its run is queued once."""
    unclaimed = Q(run_requested_at__isnull=True) | Q(
        run_requested_at__lt=wall_now - REQUEST_STALE_AFTER
    )
    due = Producer.objects.filter(workspace=workspace, enabled=True, next_at__lte=clock.now())
    return [
        pk
        for pk in due.filter(unclaimed).values_list("pk", flat=True)
        if Producer.objects.filter(pk=pk).filter(unclaimed).update(run_requested_at=wall_now)
    ]


# --- a run ----------------------------------------------------------------------------


def body(producer: Producer, n: int, *, at: float) -> str:
    """The template with `{n}` (the request's number), `{producer}` and `{at}` filled."""
    return (
        producer.body_template.replace("{n}", str(n))
        .replace("{producer}", producer.name)
        .replace("{at}", f"{at:.3f}")
    )


@transaction.atomic
def produce(producer_pk: int, *, clock) -> int:
    """Make the requests due since the last run; returns how many were made."""
    producer = (
        Producer.objects.select_for_update(of=("self",))
        .select_related("workspace")
        .filter(pk=producer_pk)
        .first()
    )
    if producer is None:
        return 0
    now = clock.now()
    if not producer.enabled or producer.workspace.paused:
        Producer.objects.filter(pk=producer.pk).update(run_requested_at=None)
        return 0
    owed = producer.owed + expected(producer, producer.last_at, now)
    count = math.floor(owed + 1e-9)
    producer.owed = max(0.0, owed - count)
    dropped = max(0, count - RUN_LIMIT)
    count -= dropped
    bodies = [body(producer, producer.made + i + 1, at=now) for i in range(count)]
    target = target_of(producer)
    if target is None:
        sent, lost, error = 0, count, "its target no longer exists"
    else:
        sent, lost, error = _call(producer, target, bodies, clock=clock)
    # The counters as increments: a direct call's run ends in another transaction
    # and counts itself there (`count_call`), which a save of stale values would undo.
    Producer.objects.filter(pk=producer.pk).update(
        run_requested_at=None,
        owed=producer.owed,
        last_at=now,
        next_at=next_due(producer, after=now),
        made=F("made") + count,
        sent=F("sent") + sent,
        lost=F("lost") + lost,
        dropped=F("dropped") + dropped,
        **({"last_error": error[:512]} if error else {}),
    )
    if count or dropped:
        _record(
            producer,
            "producer.called",
            clock=clock,
            data={"made": count, "sent": sent, "lost": lost, "dropped": dropped, "error": error},
        )
    return count


def _call(producer, target, bodies: list[str], *, clock) -> tuple[int, int, str]:
    """Send, publish or invoke each body: (accepted, lost, the last error)."""
    sent = lost = 0
    error = ""
    sender = f"producer:{producer.name}"
    if isinstance(target, Function):
        for text in bodies:
            try:
                lambdas.invoke(
                    target,
                    _as_json(text).encode(),
                    invocation_type="RequestResponse",
                    clock=clock,
                    producer=producer,
                )
                # Answered when its run ends: `count_call` counts it then.
            except errors.AwsError as err:
                lost, error = lost + 1, f"{err.code}: {err.message}"
        return sent, lost, error
    for offset in range(0, len(bodies), 10):
        chunk = bodies[offset : offset + 10]
        entries = []
        for i, text in enumerate(chunk):
            entry = {
                "Id": str(i),
                ("MessageBody" if isinstance(target, Queue) else "Message"): text,
            }
            if target.name.endswith(".fifo"):  # one group; each request its own id
                entry["MessageGroupId"] = producer.name
                entry["MessageDeduplicationId"] = f"{producer.pk}-{producer.made + offset + i + 1}"
            entries.append(entry)
        try:
            if isinstance(target, Queue):
                # The app's SendMessageBatch is billed as the endpoint's would be.
                costs.sqs_request(
                    producer.workspace_id,
                    fifo=target.is_fifo,
                    payload_bytes=sum(len(text.encode()) for text in chunk),
                )
                result = sqs.send_message_batch(target, entries, sender=sender, clock=clock)
                ok, failed = len(result.successful), result.failed
                if failed:
                    error = f"{failed[-1].code}: {failed[-1].message}"
            else:
                published = sns.publish_batch(
                    target, entries, base_url=settings.PLAYGROUND_ENDPOINT_URL, clock=clock
                )
                ok, failed = len(published.successful), published.failed
                if failed:
                    error = f"{failed[-1][1].code}: {failed[-1][1].message}"
            sent += ok
            lost += len(failed)
        except errors.AwsError as err:
            lost, error = lost + len(chunk), f"{err.code}: {err.message}"
    return sent, lost, error


def _as_json(text: str) -> str:
    """A direct call's payload is JSON: the body as it is, or wrapped as {"body": …}."""
    try:
        json.loads(text)
    except ValueError:
        return json.dumps({"body": text})
    return text


def count_call(invocation: Invocation, *, clock) -> None:
    """A producer's direct call has ended: answered, or (its run failed) a request
    lost to the caller, since nothing holds it for a retry."""
    succeeded = invocation.status == Invocation.Status.SUCCEEDED
    mine = Producer.objects.filter(pk=invocation.producer_id)
    if succeeded:
        updated = mine.update(sent=F("sent") + 1)
    else:
        error = f"FunctionError: {invocation.error or invocation.status}"
        updated = mine.update(lost=F("lost") + 1, last_error=error[:512])
    if updated and not succeeded:
        producer = Producer.objects.select_related("workspace").get(pk=invocation.producer_id)
        _record(
            producer,
            "producer.request_lost",
            clock=clock,
            data={"request_id": invocation.request_id, "error": invocation.error},
        )
