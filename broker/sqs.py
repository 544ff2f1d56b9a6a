"""Amazon SQS queues: queues, sending, receiving, visibility, deletion, DLQ.

Follows `shared/reference/sqs.md`. Every function takes the workspace clock; none
reads the wall clock. The AWS API (`broker/api/`), the htmx views and the Lambda
pollers all call these functions, and nothing else decides when a message is
visible, who may receive it, or where it goes.

A message's state is derived from two columns and the clock:
visible (`visible_at <= now`), in flight (`visible_at > now` and received at
least once) or delayed (`visible_at > now` and never received).
FIFO queues add the rules of `broker/fifo.py` on top: groups, deduplication,
sequence numbers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import struct
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import partial
from urllib.parse import urlsplit

from django.db import connection, transaction
from django.db.models import Count, F, FloatField, Min, Q, Value
from django.db.models.functions import Coalesce

from broker import data_keys, encryption, errors, events, fifo, tally, wakeup, workspaces
from broker.models import Event, Message, MessageGroup, Queue

MAX_VISIBILITY = 43_200  # 12 hours, also the ceiling counted from the receive
MAX_DELAY = 900
# In-flight quotas (sqs.md §6). A standard queue refuses a short poll past its limit
# with OverLimit; a long poll, and any receive on a FIFO queue, just gets nothing.
# AWS's FIFO quota page now says 120,000 too; 20,000 is the limit the exam teaches.
IN_FLIGHT_LIMIT = 120_000
FIFO_IN_FLIGHT_LIMIT = 20_000
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1_048_576
MAX_MESSAGE_ATTRIBUTES = 10
MAX_LIST_QUEUES = 1000
RECREATE_AFTER = 60  # seconds between deleting a queue and reusing its name

QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
# SQS accepts #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
INVALID_BODY_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Settable integer attributes: name -> (model field, minimum, maximum).
INT_ATTRIBUTES = {
    "VisibilityTimeout": ("visibility_timeout", 0, MAX_VISIBILITY),
    "DelaySeconds": ("delay_seconds", 0, MAX_DELAY),
    "MessageRetentionPeriod": ("message_retention_period", 60, 1_209_600),
    "MaximumMessageSize": ("maximum_message_size", 1024, 1_048_576),
    "ReceiveMessageWaitTimeSeconds": ("receive_wait_time_seconds", 0, 20),
}
# Also an integer, but only shown while SSE-KMS is configured.
KMS_REUSE = ("kms_data_key_reuse_period", 60, 86_400)
TEXT_ATTRIBUTES = {"Policy", "RedrivePolicy", "RedriveAllowPolicy", "SqsManagedSseEnabled"}
FIFO_ONLY_ATTRIBUTES = {
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
}
# FIFO choice attributes: name -> (model field, allowed values).
FIFO_CHOICES = {
    "DeduplicationScope": ("deduplication_scope", fifo.DEDUPLICATION_SCOPES),
    "FifoThroughputLimit": ("fifo_throughput_limit", fifo.THROUGHPUT_LIMITS),
}
READ_ONLY_ATTRIBUTES = {
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
}
ALL_ATTRIBUTE_NAMES = (
    set(INT_ATTRIBUTES)
    | TEXT_ATTRIBUTES
    | FIFO_ONLY_ATTRIBUTES
    | READ_ONLY_ATTRIBUTES
    | {"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"}
)
SYSTEM_ATTRIBUTE_NAMES = {
    "All",
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
}


# --- results ------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    message_id: str
    md5_of_body: str
    md5_of_attributes: str | None
    md5_of_system_attributes: str | None
    sequence_number: str | None = None  # FIFO only
    duplicate: bool = False  # FIFO: absorbed by the deduplication window


@dataclass(frozen=True)
class Received:
    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    md5_of_attributes: str | None
    message_attributes: dict
    system_attributes: dict


@dataclass(frozen=True)
class BatchFailure:
    id: str
    code: str
    message: str
    sender_fault: bool = True


@dataclass
class BatchResult:
    successful: list = field(default_factory=list)
    failed: list[BatchFailure] = field(default_factory=list)


@dataclass(frozen=True)
class Counts:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


# --- checksums ----------------------------------------------------------------


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def md5_of_attributes(attributes: dict) -> str | None:
    """MD5 of message attributes exactly as SQS computes it (sqs.md §3.2).

    `attributes` maps name -> {"DataType", "StringValue" | "BinaryValue" (base64)}.
    """
    if not attributes:
        return None
    buf = bytearray()

    def put(data: bytes) -> None:
        buf.extend(struct.pack(">I", len(data)))
        buf.extend(data)

    for name in sorted(attributes):
        value = attributes[name]
        put(name.encode("utf-8"))
        put(value["DataType"].encode("utf-8"))
        if "BinaryValue" in value:
            buf.append(2)
            put(base64.b64decode(value["BinaryValue"]))
        else:
            buf.append(1)
            put(value["StringValue"].encode("utf-8"))
    return hashlib.md5(bytes(buf)).hexdigest()


# --- receipt handles -------------------------------------------------------------


def _receipt_handle(message: Message) -> str:
    raw = f"{message.queue_id}:{message.pk}:{message.receipt_nonce}".encode()
    return "AQEB" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_receipt_handle(queue: Queue, handle: str) -> tuple[int, str]:
    """Return (message pk, nonce) or raise ReceiptHandleIsInvalid."""
    invalid = errors.ReceiptHandleIsInvalid(
        f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )
    if not handle or not handle.startswith("AQEB") or len(handle) > 1024:
        raise invalid
    token = handle[4:]
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        queue_pk, message_pk, nonce = raw.split(":")
        queue_pk, message_pk = int(queue_pk), int(message_pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if queue_pk != queue.pk:
        raise invalid
    return message_pk, nonce


# --- queues ---------------------------------------------------------------------


def _check_queue_name(name: str, attributes: dict[str, str]) -> None:
    """Name rules (sqs.md §1): a FIFO name ends in .fifo, and only a FIFO name does."""
    fifo_attribute = str(attributes.get("FifoQueue", "")).lower() == "true"
    fifo_name = (name or "").endswith(".fifo")
    stem = name[:-5] if fifo_name else name
    if not QUEUE_NAME_RE.match(stem or "") or len(name) > 80 or (fifo_attribute and not fifo_name):
        raise errors.InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length"
            if fifo_attribute or fifo_name
            else "Can only include alphanumeric characters, hyphens, or underscores. "
            "1 to 80 in length",
            field="name",
        )
    if fifo_name and not fifo_attribute:
        raise errors.InvalidParameterValue(
            "The name of a queue ending in .fifo requires the FifoQueue attribute set to true",
            field="name",
        )


def _int_attribute(name: str, value: str) -> int:
    _field, low, high = (
        KMS_REUSE if name == "KmsDataKeyReusePeriodSeconds" else INT_ATTRIBUTES[name]
    )
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise errors.InvalidAttributeValue(
            f"Invalid value for the parameter {name}. Reason: must be an integer "
            f"between {low} and {high}.",
            field=name,
        )
    return number


def queue_by_arn(workspace, arn: str) -> Queue | None:
    """The workspace's queue an SQS ARN names, or None (another account, no such queue)."""
    parts = (arn or "").split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or parts[4] != workspace.account_id:
        return None
    return (
        Queue.objects.filter(workspace=workspace, name=parts[5]).select_related("workspace").first()
    )


def _parse_redrive_policy(raw: str, *, workspace, own_name: str) -> tuple[str, int | None]:
    """Validate a RedrivePolicy JSON string; return (target arn, maxReceiveCount)."""
    if raw.strip() == "":
        return "", None

    def invalid(reason: str) -> errors.InvalidParameterValue:
        return errors.InvalidParameterValue(
            f"Value {raw} for parameter RedrivePolicy is invalid. Reason: {reason}",
            field="RedrivePolicy",
        )

    try:
        policy = json.loads(raw)
    except ValueError:
        raise invalid("Redrive policy is not a valid JSON map.") from None
    if not isinstance(policy, dict):
        raise invalid("Redrive policy is not a valid JSON map.")
    if "deadLetterTargetArn" not in policy:
        raise invalid("The required parameter 'deadLetterTargetArn' is missing")
    if "maxReceiveCount" not in policy:
        raise invalid("The required parameter 'maxReceiveCount' is missing")
    try:
        count = int(policy["maxReceiveCount"])
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 1000:
        raise invalid(
            f"Invalid value for maxReceiveCount: {policy['maxReceiveCount']}, valid values "
            "are from 1 to 1000 both inclusive."
        )
    arn = str(policy["deadLetterTargetArn"])
    dlq = queue_by_arn(workspace, arn)
    if dlq is None:
        raise invalid("Dead letter target does not exist.")
    if dlq.name == own_name:
        raise invalid("Dead letter target cannot be the queue itself.")
    if dlq.is_fifo != own_name.endswith(".fifo"):
        raise invalid(
            "Dead-letter target owner must be of the same queue type as the source "
            "queue: a FIFO queue's dead-letter queue is a FIFO queue, and a standard "
            "queue's a standard queue."
        )
    own_arn = f"arn:aws:sqs:{workspace.region}:{workspace.account_id}:{own_name}"
    if not redrive_allowed(dlq, own_arn):
        raise invalid(
            f"Queue {arn} does not allow this queue as a dead-letter source: its "
            "RedriveAllowPolicy does not name it."
        )
    return arn, count


REDRIVE_PERMISSIONS = ("allowAll", "denyAll", "byQueue")
MAX_REDRIVE_SOURCES = 10


def _parse_redrive_allow_policy(raw: str) -> dict:
    """Validate a RedriveAllowPolicy JSON string (sqs.md §8); "" means allowAll."""
    if raw.strip() == "":
        return {"redrivePermission": "allowAll"}

    def invalid(reason: str) -> errors.InvalidParameterValue:
        return errors.InvalidParameterValue(
            f"Value {raw} for parameter RedriveAllowPolicy is invalid. Reason: {reason}",
            field="RedriveAllowPolicy",
        )

    try:
        policy = json.loads(raw)
    except ValueError:
        raise invalid("Redrive allow policy is not a valid JSON map.") from None
    if not isinstance(policy, dict) or policy.get("redrivePermission") not in REDRIVE_PERMISSIONS:
        raise invalid("redrivePermission must be one of allowAll, denyAll, byQueue.")
    sources = policy.get("sourceQueueArns")
    if policy["redrivePermission"] != "byQueue":
        if sources is not None:
            raise invalid("sourceQueueArns is allowed only when redrivePermission is byQueue.")
    elif (
        not isinstance(sources, list)
        or not 1 <= len(sources) <= MAX_REDRIVE_SOURCES
        or not all(isinstance(a, str) for a in sources)
    ):
        raise invalid(
            f"With byQueue, sourceQueueArns must list 1 to {MAX_REDRIVE_SOURCES} queue ARNs."
        )
    return policy


def redrive_allowed(dlq: Queue, source_arn: str) -> bool:
    """May `source_arn` use `dlq` as its dead-letter queue (its RedriveAllowPolicy)?"""
    policy = _parse_redrive_allow_policy(dlq.redrive_allow_policy)
    if policy["redrivePermission"] == "byQueue":
        return source_arn in policy["sourceQueueArns"]
    return policy["redrivePermission"] == "allowAll"


def _boolean(name: str, raw) -> bool:
    if str(raw).lower() not in {"true", "false"}:
        raise errors.InvalidAttributeValue(f"Invalid value for the parameter {name}.", field=name)
    return str(raw).lower() == "true"


def _fifo_attribute(name: str, raw, *, fifo_queue: bool, creating: bool) -> dict:
    """FIFO attributes (sqs.md §2.1): only on a FIFO queue, FifoQueue only at creation."""
    if not fifo_queue:
        if name in FIFO_CHOICES:
            raise errors.InvalidAttributeName(
                f"You can specify the {name} only when FifoQueue is set to true.", field=name
            )
        raise errors.InvalidAttributeName(f"Unknown Attribute {name}.", field=name)
    if name == "FifoQueue":
        if not creating:
            raise errors.InvalidAttributeValue(
                "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is "
                "not supported.",
                field=name,
            )
        _boolean(name, raw)
        return {}
    if name == "ContentBasedDeduplication":
        return {"content_based_deduplication": _boolean(name, raw)}
    field_name, allowed = FIFO_CHOICES[name]
    if str(raw) not in allowed:
        raise errors.InvalidAttributeValue(
            f"Invalid value for the parameter {name}. Reason: must be one of {', '.join(allowed)}.",
            field=name,
        )
    return {field_name: str(raw)}


def _validated_attributes(
    workspace,
    name: str,
    attributes: dict[str, str],
    *,
    creating: bool = False,
) -> dict:
    """Turn AWS attribute strings into model field values, or raise like AWS."""
    values: dict = {}
    for key, raw in attributes.items():
        if key in FIFO_ONLY_ATTRIBUTES:
            values.update(
                _fifo_attribute(key, raw, fifo_queue=name.endswith(".fifo"), creating=creating)
            )
            continue
        if key in INT_ATTRIBUTES:
            values[INT_ATTRIBUTES[key][0]] = _int_attribute(key, raw)
        elif key == "RedrivePolicy":
            arn, count = _parse_redrive_policy(str(raw), workspace=workspace, own_name=name)
            values["dead_letter_target_arn"] = arn
            values["max_receive_count"] = count
        elif key == "Policy":
            if str(raw).strip():
                try:
                    json.loads(raw)
                except ValueError:
                    raise errors.InvalidAttributeValue(
                        "Invalid value for the parameter Policy.", field="Policy"
                    ) from None
            values["policy"] = str(raw)
        elif key == "RedriveAllowPolicy":
            _parse_redrive_allow_policy(str(raw))
            values["redrive_allow_policy"] = str(raw)
        elif key == "SqsManagedSseEnabled":
            values["sqs_managed_sse"] = _boolean(key, raw)
        elif key == "KmsMasterKeyId":
            values["kms_master_key_id"] = str(raw).strip()
        elif key == "KmsDataKeyReusePeriodSeconds":
            values["kms_data_key_reuse_period"] = _int_attribute(key, raw)
        else:
            raise errors.InvalidAttributeName(f"Unknown Attribute {key}.", field=key)
    if values.get("kms_master_key_id"):
        # SSE-KMS and SSE-SQS exclude each other (sqs.md §2.1); naming a key turns SSE-SQS off.
        if values.get("sqs_managed_sse"):
            raise errors.InvalidAttributeName(
                "You can use one type of server-side encryption (SSE) at one time. You can "
                "either enable KMS SSE or SQS SSE.",
                field="KmsMasterKeyId",
            )
        values["sqs_managed_sse"] = False
    return values


@transaction.atomic
def create_queue(
    workspace,
    name: str,
    *,
    attributes: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    clock,
) -> Queue:
    """Create a queue, or return the existing one with identical attributes.

    A name ending in .fifo with FifoQueue=true makes a FIFO queue. Raises
    InvalidParameterValue (name), InvalidAttributeName / InvalidAttributeValue,
    QueueNameExists (same name, different attributes), QueueDeletedRecently (the
    name was deleted less than 60 s ago). Records `queue.created`.
    """
    attributes = attributes or {}
    _check_queue_name(name, attributes)
    values = _validated_attributes(workspace, name, attributes, creating=True)
    _check_throughput_pair(
        values.get("deduplication_scope", "queue"), values.get("fifo_throughput_limit", "perQueue")
    )
    existing = Queue.objects.filter(workspace=workspace, name=name).first()
    if existing is not None:
        for key, value in values.items():
            if getattr(existing, key) != value:
                attribute = next(
                    (a for a, spec in (INT_ATTRIBUTES | FIFO_CHOICES).items() if spec[0] == key),
                    key,
                )
                raise errors.QueueNameExists(
                    "A queue already exists with the same name and a different value "
                    f"for attribute {attribute}",
                    field="name",
                )
        return existing
    now = clock.now()
    # The queue's own log says when it went (few deletions per workspace: a short scan).
    if Event.objects.filter(
        workspace=workspace, kind="queue.deleted", queue=name, at__gt=now - RECREATE_AFTER
    ).exists():
        raise errors.QueueDeletedRecently(
            f"You must wait {RECREATE_AFTER} seconds after deleting a queue before you can "
            "create another with the same name.",
            field="name",
        )
    queue = Queue.objects.create(
        workspace=workspace,
        name=name,
        tags=dict(tags or {}),
        created_at=now,
        modified_at=now,
        **values,
    )
    events.record(workspace, "queue.created", queue=name, clock=clock)
    return queue


def get_queue(workspace, name: str) -> Queue:
    queue = Queue.objects.filter(workspace=workspace, name=name).select_related("workspace").first()
    if queue is None:
        raise errors.QueueDoesNotExist()
    return queue


def get_queue_by_url(workspace, url: str) -> Queue:
    """Resolve a queue URL (only its last two path segments matter, sqs.md §1).

    An account part that is not 12 digits (`/queue/orders`, the form some other
    emulators use) is InvalidAddress, as AWS answers it; a URL with no path at
    all, or another account's, is a queue that does not exist.
    """
    url = url or ""
    path = urlsplit(url).path if "://" in url else url.split("?")[0]
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and not workspaces.ACCOUNT_ID_RE.match(parts[-2]):
        raise errors.InvalidAddress(f"The address {url[:300]} is not valid for this endpoint.")
    if len(parts) < 2 or parts[-2] != workspace.account_id:
        raise errors.QueueDoesNotExist()
    return get_queue(workspace, parts[-1])


def list_queues(
    workspace, *, prefix: str = "", max_results: int | None = None, next_token: str | None = None
) -> tuple[list[Queue], str | None]:
    """Queues by name; a NextToken only when MaxResults was given and more exist."""
    if max_results is not None and not 1 <= max_results <= MAX_LIST_QUEUES:
        raise errors.InvalidParameterValue(
            f"Value {max_results} for parameter MaxResults is invalid. Reason: Must be "
            "between 1 and 1000, if provided."
        )
    qs = Queue.objects.filter(workspace=workspace, name__startswith=prefix).order_by("name")
    if next_token:
        try:
            after = base64.urlsafe_b64decode(next_token.encode()).decode()
        except (ValueError, binascii.Error):
            raise errors.InvalidParameterValue("Invalid NextToken value.") from None
        qs = qs.filter(name__gt=after)
    limit = max_results or MAX_LIST_QUEUES
    queues = list(qs.select_related("workspace")[: limit + 1])
    token = None
    if max_results is not None and len(queues) > limit:
        queues = queues[:limit]
        token = base64.urlsafe_b64encode(queues[-1].name.encode()).decode()
    return queues[:limit], token


@transaction.atomic
def delete_queue(queue: Queue, *, clock) -> None:
    """Delete a queue and its messages (sqs.md §7). Records `queue.deleted`."""
    workspace, name = queue.workspace, queue.name
    queue.delete()
    events.record(workspace, "queue.deleted", queue=name, clock=clock)


def counts(queue: Queue, *, now: float) -> Counts:
    """Visible / in flight / delayed: the queue's tally, less what has come due since.

    A hidden message stays counted as held or delayed until the ticker announces
    its return; the ones whose `visible_at` has passed are counted back from the
    (queue, visible_at) index of hidden rows. So the cost is the tally's few rows
    plus the returns not announced yet, never the queue's depth.
    """
    t = tally.totals(queue.pk)
    due = Message.objects.filter(queue=queue, hidden=True, visible_at__lte=now).aggregate(
        held=Count("pk", filter=Q(receive_count__gt=0)),
        delayed=Count("pk", filter=Q(receive_count=0)),
    )
    in_flight, delayed = t.held - due["held"], t.delayed - due["delayed"]
    return Counts(visible=t.messages - in_flight - delayed, in_flight=in_flight, delayed=delayed)


def get_queue_attributes(queue: Queue, names: list[str] | None, *, clock) -> dict[str, str]:
    """The requested attributes as AWS strings; nothing when no names are given."""
    names = list(names or [])
    for name in names:
        if name != "All" and name not in ALL_ATTRIBUTE_NAMES:
            raise errors.InvalidAttributeName(f"Unknown Attribute {name}.")
    if not names:
        return {}
    everything = {
        "QueueArn": queue.arn,
        "CreatedTimestamp": str(int(queue.created_at)),
        "LastModifiedTimestamp": str(int(queue.modified_at)),
        "SqsManagedSseEnabled": "true" if queue.sqs_managed_sse else "false",
    }
    if queue.kms_master_key_id:
        everything["KmsMasterKeyId"] = queue.kms_master_key_id
        everything["KmsDataKeyReusePeriodSeconds"] = str(queue.kms_data_key_reuse_period)
    for attr, (field_name, _low, _high) in INT_ATTRIBUTES.items():
        everything[attr] = str(getattr(queue, field_name))
    if queue.policy:
        everything["Policy"] = queue.policy
    if queue.dead_letter_target_arn:
        everything["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": queue.dead_letter_target_arn,
                "maxReceiveCount": queue.max_receive_count,
            },
            separators=(",", ":"),
        )
    if queue.redrive_allow_policy:
        everything["RedriveAllowPolicy"] = queue.redrive_allow_policy
    if queue.is_fifo:
        everything["FifoQueue"] = "true"
        everything["ContentBasedDeduplication"] = (
            "true" if queue.content_based_deduplication else "false"
        )
        everything["DeduplicationScope"] = queue.deduplication_scope
        everything["FifoThroughputLimit"] = queue.fifo_throughput_limit
    if "All" in names or READ_ONLY_ATTRIBUTES.intersection(names):
        c = counts(queue, now=clock.now())
        everything["ApproximateNumberOfMessages"] = str(c.visible)
        everything["ApproximateNumberOfMessagesNotVisible"] = str(c.in_flight)
        everything["ApproximateNumberOfMessagesDelayed"] = str(c.delayed)
    if "All" in names:
        return everything
    return {n: everything[n] for n in names if n in everything}


@transaction.atomic
def set_queue_attributes(queue: Queue, attributes: dict[str, str], *, clock) -> Queue:
    """Change settable attributes; records `queue.updated` with what changed."""
    values = _validated_attributes(queue.workspace, queue.name, attributes)
    _check_throughput_pair(
        values.get("deduplication_scope", queue.deduplication_scope),
        values.get("fifo_throughput_limit", queue.fifo_throughput_limit),
    )
    if values.get("sqs_managed_sse") and values.get("kms_master_key_id", queue.kms_master_key_id):
        raise errors.InvalidAttributeName(
            "You can use one type of server-side encryption (SSE) at one time. You can either "
            "enable KMS SSE or SQS SSE.",
            field="SqsManagedSseEnabled",
        )
    old_delay = queue.delay_seconds
    for key, value in values.items():
        setattr(queue, key, value)
    queue.modified_at = clock.now()
    queue.save(update_fields=[*values, "modified_at"])
    if queue.is_fifo and queue.delay_seconds != old_delay:
        # On FIFO the queue's delay is retroactive (sqs.md §2): waiting messages take it.
        fifo.redelay(queue, old_delay, now=queue.modified_at)
    events.record(
        queue.workspace,
        "queue.updated",
        queue=queue.name,
        data={"attributes": sorted(attributes)},
        clock=clock,
    )
    return queue


def attribute_errors(queue: Queue, attributes: dict[str, str]) -> dict[str, errors.AwsError]:
    """What SetQueueAttributes would refuse, attribute by attribute (for a form that
    shows every mistake at once; the API call stops at the first)."""
    found = {}
    for name, value in attributes.items():
        try:
            _validated_attributes(queue.workspace, queue.name, {name: value})
        except errors.AwsError as exc:
            found[name] = exc
    if not found:
        try:
            values = _validated_attributes(queue.workspace, queue.name, attributes)
            _check_throughput_pair(
                values.get("deduplication_scope", queue.deduplication_scope),
                values.get("fifo_throughput_limit", queue.fifo_throughput_limit),
            )
        except errors.AwsError as exc:
            found[exc.field or "FifoThroughputLimit"] = exc
    return found


def _check_throughput_pair(scope: str, limit: str) -> None:
    """High throughput needs both halves (sqs.md §2.1, §9)."""
    if limit == "perMessageGroupId" and scope != "messageGroup":
        raise errors.InvalidAttributeValue(
            "Invalid value for the parameter FifoThroughputLimit. Reason: The "
            "perMessageGroupId value is allowed only when the value for DeduplicationScope "
            "is messageGroup.",
            field="FifoThroughputLimit",
        )


@transaction.atomic
def tag_queue(queue: Queue, tags: dict[str, str], *, clock) -> None:
    queue.tags = {**queue.tags, **tags}
    queue.save(update_fields=["tags"])
    events.record(
        queue.workspace, "queue.updated", queue=queue.name, data={"tags": sorted(tags)}, clock=clock
    )


@transaction.atomic
def untag_queue(queue: Queue, keys: list[str], *, clock) -> None:
    queue.tags = {k: v for k, v in queue.tags.items() if k not in set(keys)}
    queue.save(update_fields=["tags"])
    events.record(
        queue.workspace,
        "queue.updated",
        queue=queue.name,
        data={"untagged": sorted(keys)},
        clock=clock,
    )


def list_dead_letter_source_queues(
    queue: Queue, *, max_results: int | None = None, next_token: str | None = None
) -> tuple[list[Queue], str | None]:
    sources, token = list_queues(queue.workspace, max_results=max_results, next_token=next_token)
    # Few queues per workspace: filter the page rather than index the ARN.
    return [q for q in sources if q.dead_letter_target_arn == queue.arn], token


# --- sending --------------------------------------------------------------------


def _check_message_attributes(attributes: dict) -> tuple[dict, int]:
    """Validate message attributes; return them JSON-storable and their byte size.

    Input values: {"DataType": str, "StringValue": str} or {"DataType": str,
    "BinaryValue": bytes}. Stored: BinaryValue as base64 text.
    """
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise errors.InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
            f"[{MAX_MESSAGE_ATTRIBUTES}]."
        )
    stored: dict = {}
    size = 0
    for name, value in attributes.items():
        lowered = name.lower()
        if (
            not ATTRIBUTE_NAME_RE.match(name)
            or lowered.startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise errors.InvalidParameterValue(
                f"Message (user) attribute name '{name}' is invalid. The attribute name can "
                "contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
            )
        data_type = (value or {}).get("DataType") or ""
        base_type = data_type.split(".", 1)[0]
        if base_type not in {"String", "Number", "Binary"} or len(data_type) > 256:
            raise errors.InvalidParameterValue(
                f"The type of message (user) attribute '{name}' is invalid. You must use "
                "only the following supported type prefixes: Binary, Number, String."
            )
        if base_type == "Binary":
            raw = value.get("BinaryValue")
            if not raw:
                raise errors.InvalidParameterValue(
                    f"Message (user) attribute '{name}' must contain a non-empty value of "
                    "type 'Binary'."
                )
            stored[name] = {"DataType": data_type, "BinaryValue": base64.b64encode(raw).decode()}
            size += len(name.encode()) + len(data_type.encode()) + len(raw)
            continue
        text = value.get("StringValue")
        if text is None or text == "":
            raise errors.InvalidParameterValue(
                f"Message (user) attribute '{name}' must contain a non-empty value of type "
                f"'{base_type}'."
            )
        if INVALID_BODY_CHARS.search(text):
            raise errors.InvalidParameterValue(
                f"Message (user) attribute '{name}' must contain valid characters."
            )
        if base_type == "Number":
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite():
                raise errors.InvalidParameterValue(
                    f"Can't cast the value of message (user) attribute '{name}' to a number."
                )
        stored[name] = {"DataType": data_type, "StringValue": text}
        size += len(name.encode()) + len(data_type.encode()) + len(text.encode())
    return stored, size


def _prepare(
    queue: Queue,
    *,
    body,
    attributes,
    system_attributes,
    delay_seconds,
    now,
    group_id=None,
    deduplication_id=None,
    batch=False,
):
    """Validate one message; return the unsaved Message and its Sent result."""
    if body is None or body == "":
        raise errors.MissingParameter(
            "The request must contain the parameter MessageBody.", field="MessageBody"
        )
    if INVALID_BODY_CHARS.search(body):
        raise errors.InvalidMessageContents()
    stored, attr_size = _check_message_attributes(attributes or {})
    size = len(body.encode("utf-8")) + attr_size
    if size > queue.maximum_message_size:
        raise errors.InvalidParameterValue(
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{queue.maximum_message_size} bytes."
        )
    group_id, deduplication_id = _check_ordering_ids(
        queue, body, group_id, deduplication_id, delay_seconds, batch=batch
    )
    if delay_seconds is None or (queue.is_fifo and delay_seconds == 0):
        delay = queue.delay_seconds
    else:
        delay = int(delay_seconds)
        if not 0 <= delay <= MAX_DELAY:
            raise errors.InvalidParameterValue(
                f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: must "
                f"be between 0 and {MAX_DELAY}, if provided."
            )
    system = {}
    for name, value in (system_attributes or {}).items():
        if name != "AWSTraceHeader" or value.get("DataType") != "String":
            raise errors.InvalidParameterValue(
                f"Message system attribute name '{name}' is invalid."
            )
        system[name] = {"DataType": "String", "StringValue": value.get("StringValue", "")}
    message = Message(
        queue=queue,
        message_id=str(uuid.uuid4()),
        body=body,
        attributes=stored,
        system_attributes=system,
        md5_of_body=md5_of_body(body),
        md5_of_attributes=md5_of_attributes(stored) or "",
        group_id=group_id,
        deduplication_id=deduplication_id,
        sent_at=now,
        visible_at=now + delay,
        hidden=delay > 0,
    )
    sent = Sent(
        message_id=message.message_id,
        md5_of_body=message.md5_of_body,
        md5_of_attributes=message.md5_of_attributes or None,
        md5_of_system_attributes=md5_of_attributes(system),
    )
    return message, sent


def _check_ordering_ids(
    queue: Queue, body, group_id, deduplication_id, delay_seconds, *, batch: bool
) -> tuple[str, str]:
    """MessageGroupId / MessageDeduplicationId / DelaySeconds rules (sqs.md §4.2, §4.3)."""
    if group_id is not None:
        fifo.check_id("MessageGroupId", group_id)
    if not queue.is_fifo:
        if deduplication_id is not None:
            raise errors.InvalidParameterValue(
                f"Value {deduplication_id} for parameter MessageDeduplicationId is invalid. "
                "Reason: The request includes a parameter that is not valid for this queue type.",
                field="MessageDeduplicationId",
            )
        return group_id or "", ""
    if group_id is None:
        missing = errors.InvalidParameterValue if batch else errors.MissingParameter
        raise missing(
            "The request must contain the parameter MessageGroupId.", field="MessageGroupId"
        )
    if delay_seconds:
        raise errors.InvalidParameterValue(
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: The request "
            "include parameter that is not valid for this queue type.",
            field="DelaySeconds",
        )
    return group_id, fifo.deduplication_id(queue, body, deduplication_id)


def _sent_event(
    queue: Queue, message: Message, sender: str, attribute_names: list[str], body: str
) -> dict:
    data = {
        "sender": sender,
        "delay": round(message.visible_at - message.sent_at, 3),
        "attributes": attribute_names,
    }
    if not message.sealed:
        # An excerpt for the log, never of a message the queue keeps encrypted.
        data["body"] = body[:280]
    if queue.is_fifo:
        data.update(
            group=message.group_id,
            deduplication_id=message.deduplication_id,
            sequence_number=fifo.sequence_number(message.pk),
        )
    elif message.group_id:
        data["group"] = message.group_id
    return {
        "kind": "message.sent",
        "queue": queue.name,
        "message_id": message.message_id,
        "data": data,
    }


def _duplicate_event(queue: Queue, original, message: Message, sender: str) -> dict:
    return {
        "kind": "message.deduplicated",
        "queue": queue.name,
        "message_id": original.message_id,
        "data": {
            "sender": sender,
            "group": message.group_id,
            "deduplication_id": message.deduplication_id,
        },
    }


def _store(queue: Queue, prepared: list[tuple[Message, Sent]], sender: str, clock) -> list[Sent]:
    """Save prepared messages; return their Sent results in the same order.

    On a FIFO queue a message whose deduplication id was seen in the last five
    minutes is not stored: its Sent names the first message (sqs.md §4.4).
    """
    messages = [m for m, _ in prepared]
    duplicates: dict[int, object] = {}
    if queue.is_fifo:
        fifo.lock_for_send(queue)
        duplicates = fifo.find_duplicates(queue, messages, now=clock.now())
    stored = [m for i, m in enumerate(messages) if i not in duplicates]
    for m in stored:
        m.sender_id = sender
    recorded = []
    if stored:
        plain = [(sorted(m.attributes), m.body) for m in stored]
        encryption.seal(
            queue, stored, principal=data_keys.principal_of(sender), clock=clock
        )  # KmsDisabled: nothing is stored
        Message.objects.bulk_create(stored)
        tally.record(queue.pk, after=[tally.state(m) for m in stored])
        # Wake long polls first: on_commit hooks run in order, and the event push is slower.
        transaction.on_commit(partial(wakeup.notify, queue.pk), robust=True)
        recorded = [
            _sent_event(queue, m, sender, *shown) for m, shown in zip(stored, plain, strict=True)
        ]
    if queue.is_fifo:
        if stored:
            fifo.remember(queue, stored, now=clock.now())
            fifo.enqueue(queue, stored)
        results = []
        for i, (m, sent) in enumerate(prepared):
            original = duplicates.get(i)
            if original is None:
                results.append(replace(sent, sequence_number=fifo.sequence_number(m.pk)))
                continue
            if isinstance(original, Message):
                original = fifo.Original(original.message_id, fifo.sequence_number(original.pk))
            recorded.append(_duplicate_event(queue, original, m, sender))
            results.append(
                replace(
                    sent,
                    message_id=original.message_id,
                    sequence_number=original.sequence_number,
                    duplicate=True,
                )
            )
    else:
        results = [sent for _, sent in prepared]
    events.record_many(queue.workspace, recorded, clock=clock)
    return results


@transaction.atomic
def send_message(
    queue: Queue,
    *,
    body: str,
    attributes: dict | None = None,
    system_attributes: dict | None = None,
    delay_seconds: int | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    sender: str = "",
    clock,
) -> Sent:
    """Enqueue one message (sqs.md §4). Records `message.sent`; wakes long polls.

    On a FIFO queue a duplicate within five minutes records `message.deduplicated`
    instead and returns the first message's id. Raises MissingParameter,
    InvalidMessageContents, InvalidParameterValue.
    """
    prepared = _prepare(
        queue,
        body=body,
        attributes=attributes,
        system_attributes=system_attributes,
        delay_seconds=delay_seconds,
        group_id=group_id,
        deduplication_id=deduplication_id,
        now=clock.now(),
    )
    return _store(queue, [prepared], sender, clock)[0]


def check_batch_ids(ids: list[str]) -> None:
    """The request-level rules shared by every *Batch action (sqs.md §4.6)."""
    if not ids:
        raise errors.EmptyBatchRequest()
    if len(ids) > MAX_BATCH_ENTRIES:
        raise errors.TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. "
            f"You have sent {len(ids)}."
        )
    seen = set()
    for entry_id in ids:
        if not BATCH_ID_RE.match(entry_id or ""):
            raise errors.InvalidBatchEntryId()
        if entry_id in seen:
            raise errors.BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


def _entry_size(entry: dict) -> int:
    size = len((entry.get("MessageBody") or "").encode("utf-8"))
    for name, value in (entry.get("MessageAttributes") or {}).items():
        raw = value.get("BinaryValue") or (value.get("StringValue") or "").encode("utf-8")
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode()) + len(raw)
    return size


@transaction.atomic
def send_message_batch(
    queue: Queue, entries: list[dict], *, sender: str = "", clock
) -> BatchResult:
    """Send up to 10 messages; bad entries fail alone, in `failed` (sqs.md §4.5).

    Each entry: {"Id", "MessageBody", "MessageAttributes"?, "MessageSystemAttributes"?,
    "DelaySeconds"?, "MessageGroupId"?, "MessageDeduplicationId"?}. Returns BatchResult
    whose `successful` holds (Id, Sent) pairs; a FIFO batch is enqueued in entry order.
    """
    check_batch_ids([e.get("Id") for e in entries])
    total = sum(_entry_size(e) for e in entries)
    if total > MAX_BATCH_BYTES:
        raise errors.BatchRequestTooLong(
            f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
            f"You have sent {total} bytes."
        )
    now = clock.now()
    result = BatchResult()
    prepared, ids = [], []
    for entry in entries:
        try:
            prepared.append(
                _prepare(
                    queue,
                    body=entry.get("MessageBody"),
                    attributes=entry.get("MessageAttributes"),
                    system_attributes=entry.get("MessageSystemAttributes"),
                    delay_seconds=entry.get("DelaySeconds"),
                    group_id=entry.get("MessageGroupId"),
                    deduplication_id=entry.get("MessageDeduplicationId"),
                    now=now,
                    batch=True,
                )
            )
        except errors.AwsError as exc:
            result.failed.append(BatchFailure(entry["Id"], exc.wire_query_code, exc.message))
            continue
        ids.append(entry["Id"])
    if prepared:
        result.successful = list(zip(ids, _store(queue, prepared, sender, clock), strict=True))
    return result


# --- receiving ------------------------------------------------------------------


def _dead_letter_queue(queue: Queue) -> Queue | None:
    return queue_by_arn(queue.workspace, queue.dead_letter_target_arn)


def _system_attributes(queue: Queue, m: Message) -> dict[str, str]:
    attrs = {
        # The caller is the account itself (no IAM users here): AWS answers its id.
        "SenderId": queue.workspace.account_id,
        "SentTimestamp": str(int(m.sent_at * 1000)),
        "ApproximateReceiveCount": str(m.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int((m.first_received_at or m.sent_at) * 1000)),
    }
    if m.group_id:
        attrs["MessageGroupId"] = m.group_id
    if queue.is_fifo:
        attrs["MessageDeduplicationId"] = m.deduplication_id
        attrs["SequenceNumber"] = fifo.sequence_number(m.pk)
    for name, value in m.system_attributes.items():
        attrs[name] = value["StringValue"] if isinstance(value, dict) else str(value)
    return attrs


def _received(queue: Queue, m: Message, opener: encryption.Opener) -> Received:
    body, attributes = opener.open(m)  # KmsDisabled / KmsNotFound when its key fails
    return Received(
        message_id=m.message_id,
        receipt_handle=_receipt_handle(m),
        body=body,
        md5_of_body=m.md5_of_body,
        md5_of_attributes=m.md5_of_attributes or None,
        message_attributes=attributes,
        system_attributes=_system_attributes(queue, m),
    )


def receivable(queue: Queue, *, now: float):
    """The queue's visible messages in receive order: a range of (queue, visible_at, id).

    The whole condition is the index's, so a receive reads the first rows and stops,
    with ten messages in the queue or a million sharing one instant. Retention is
    checked on the rows found (see `receive_messages`), so no planner is tempted by
    another index.
    """
    return Message.objects.filter(queue=queue, visible_at__lte=now).order_by("visible_at", "pk")


def _lock_candidates(queue: Queue, now: float, limit: int, seen: list[int]) -> list[Message]:
    qs = receivable(queue, now=now)
    if seen:
        qs = qs.exclude(pk__in=seen)  # looked at by this receive already, not updated yet
    if connection.features.has_select_for_update_skip_locked:
        # Two receivers never pick the same row: each skips what the other holds.
        qs = qs.select_for_update(skip_locked=True)
    return list(qs[:limit])


def _move_to_dead_letter_queue(
    queue: Queue, dlq: Queue, m: Message, now: float, *, opener: encryption.Opener, clock
) -> dict:
    # Sealed for the dead-letter queue's own key (or stored plain if it has none).
    encryption.reseal(dlq, [m], opener=opener, clock=clock)
    m.queue = dlq
    m.receive_count = 0
    m.first_received_at = None
    m.received_at = None
    m.receipt_nonce = ""
    m.hidden = False
    m.visible_at = now
    m.system_attributes = {
        **m.system_attributes,
        "DeadLetterQueueSourceArn": {"DataType": "String", "StringValue": queue.arn},
    }
    m.save(
        update_fields=[
            "queue",
            "receive_count",
            "first_received_at",
            "received_at",
            "receipt_nonce",
            "hidden",
            "visible_at",
            "system_attributes",
            "body",
            "attributes",
            "sealed",
            "sealed_key",
        ]
    )
    if dlq.is_fifo:
        fifo.enqueue(dlq, [m])
    transaction.on_commit(partial(wakeup.notify, dlq.pk), robust=True)
    return {
        "kind": "message.moved_to_dlq",
        "queue": queue.name,
        "message_id": m.message_id,
        "data": {"dlq": dlq.name, "receive_count": queue.max_receive_count},
    }


@transaction.atomic
def receive_messages(
    queue: Queue,
    *,
    max_number: int = 1,
    visibility: int | None = None,
    receiver: str = "",
    attempt_id: str | None = None,
    long_poll: bool = False,
    clock,
) -> list[Received]:
    """Hand out up to `max_number` visible messages, each with a new receipt handle.

    Bumps ApproximateReceiveCount, hides each message for the visibility timeout
    and records `message.received`. A message whose next receive would exceed the
    redrive policy's maxReceiveCount is moved to the dead-letter queue instead
    (`message.moved_to_dlq`) and not returned. Never waits: long polling is the
    caller's loop around this function (see `next_visible_at`).

    On a FIFO queue messages come in group order, a group with a message in
    flight gives nothing more, and a repeated `attempt_id` within five minutes
    returns the same batch with the same handles (sqs.md §9).

    With the queue's in-flight limit reached, a short poll on a standard queue
    raises OverLimit; a `long_poll` or a FIFO queue gets nothing.

    Guarantee: a message is handed to one receiver per visibility window —
    `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, serialised IMMEDIATE write
    transactions on SQLite.
    """
    if not 1 <= max_number <= 10:
        raise errors.InvalidParameterValue(
            f"Value {max_number} for parameter MaxNumberOfMessages is invalid. Reason: Must "
            "be between 1 and 10, if provided."
        )
    if visibility is None:
        visibility = queue.visibility_timeout
    elif not 0 <= visibility <= MAX_VISIBILITY:
        raise errors.InvalidParameterValue(
            f"Value {visibility} for parameter VisibilityTimeout is invalid. Reason: Must "
            f"be between 0 and {MAX_VISIBILITY}, if provided."
        )
    now = clock.now()
    if queue.is_fifo and attempt_id is not None:
        fifo.check_attempt_id(attempt_id)
        retried = fifo.retried_batch(queue, attempt_id, now=now)
        if retried is not None:
            return _hand_out_again(queue, retried, visibility, receiver, now, clock)
    max_number = _room_in_flight(queue, max_number, now=now, long_poll=long_poll)
    if not max_number:
        return []
    dlq = _dead_letter_queue(queue) if queue.has_redrive_policy else None
    opener = encryption.Opener(queue, data_keys.principal_of(receiver), clock=clock)
    picked: list[Message] = []
    recorded: list[dict] = []
    groups: list[str] = []
    left: list[tally.State] = []  # the states of messages moved to the dead-letter queue

    expired_before = now - queue.message_retention_period

    def take(candidates: list[Message]) -> None:
        for m in candidates:
            if m.sent_at <= expired_before:
                continue  # past retention, not swept by the ticker yet: gone for receivers
            if m.hidden:
                # Its return was not announced yet (the ticker had not run).
                recorded.append(
                    {
                        "kind": "message.visible",
                        "queue": queue.name,
                        "message_id": m.message_id,
                        "data": {"reason": "visibility_expired"},
                    }
                )
            if dlq is not None and m.receive_count >= queue.max_receive_count:
                left.append(tally.state(m))
                recorded.append(
                    _move_to_dead_letter_queue(queue, dlq, m, now, opener=opener, clock=clock)
                )
                continue
            picked.append(m)

    if queue.is_fifo:
        candidates, groups = fifo.candidates(
            queue,
            now=now,
            limit=max_number,
            leaving_at=queue.max_receive_count if dlq is not None else None,
        )
        take(candidates)
    else:
        # Over-received messages leave for the DLQ and free their slot: look again.
        seen: list[int] = []
        for _attempt in range(3):
            candidates = _lock_candidates(queue, now, max_number - len(picked), seen)
            seen += [m.pk for m in candidates]
            take(candidates)
            if len(picked) >= max_number or len(candidates) < max_number:
                break
    nonce = secrets.token_hex(8)
    before = [tally.state(m) for m in picked]
    if picked:
        # One UPDATE for the batch. The nonce is per receive, not per message: each
        # handle also names its message, so handles stay distinct.
        Message.objects.filter(pk__in=[m.pk for m in picked]).update(
            receive_count=F("receive_count") + 1,
            first_received_at=Coalesce("first_received_at", Value(now, FloatField())),
            # Hidden (for the ticker to announce its return) only if it is hidden at all:
            # a 0 s receive leaves nothing to announce, and no row for the ticker to lock.
            received_at=now,
            receipt_nonce=nonce,
            visible_at=now + visibility,
            hidden=visibility > 0,
        )
        for m in picked:
            m.receive_count += 1
            m.first_received_at = m.first_received_at or now
            m.received_at = now
            m.receipt_nonce = nonce
            m.visible_at = now + visibility
            m.hidden = visibility > 0
    tally.record(queue.pk, before=before + left, after=[tally.state(m) for m in picked])
    if left:
        tally.record(dlq.pk, after=tally.shown(len(left)))
    if groups:
        fifo.settle(queue, groups, now=now)
        if attempt_id is not None and picked:
            fifo.remember_attempt(queue, attempt_id, picked, nonce=nonce, now=now)
    results = [_received(queue, m, opener) for m in picked]
    for m, r in zip(picked, results, strict=True):
        recorded.append(
            {
                "kind": "message.received",
                "queue": queue.name,
                "message_id": m.message_id,
                "data": {
                    "receiver": receiver,
                    "receipt_handle": r.receipt_handle,
                    "receive_count": m.receive_count,
                    "visible_at": m.visible_at,
                },
            }
        )
    if recorded:
        # Stamp the timeline with the instant the visibility was computed from.
        events.record_many(queue.workspace, [{"at": now, **e} for e in recorded], clock=clock)
    return results


def in_flight_limit(queue: Queue) -> int:
    return FIFO_IN_FLIGHT_LIMIT if queue.is_fifo else IN_FLIGHT_LIMIT


def _room_in_flight(queue: Queue, wanted: int, *, now: float, long_poll: bool) -> int:
    """How many of `wanted` messages may go in flight now (0 at the queue's limit)."""
    limit = in_flight_limit(queue)
    if tally.totals(queue.pk).held + wanted <= limit:
        return wanted  # the tally's held count is an upper bound: no need to look closer
    room = limit - counts(queue, now=now).in_flight
    if room > 0:
        return min(wanted, room)
    if queue.is_fifo or long_poll:
        return 0
    # AWS's own words for this refusal.
    raise errors.OverLimit(
        "Too many messages have been received without being deleted. Please "
        "delete your received messages or let them timeout before receiving "
        "more."
    )


def _hand_out_again(
    queue: Queue, batch: list[Message], visibility: int, receiver: str, now: float, clock
) -> list[Received]:
    """A retried FIFO receive: the same messages and handles, visibility restarted."""
    before = [tally.state(m) for m in batch]  # locked by `fifo.retried_batch`
    Message.objects.filter(pk__in=[m.pk for m in batch]).update(
        visible_at=now + visibility, hidden=visibility > 0
    )
    for m in batch:
        m.visible_at = now + visibility
        m.hidden = visibility > 0
    tally.record(queue.pk, before=before, after=[tally.state(m) for m in batch])
    fifo.settle(queue, {m.group_id for m in batch}, now=now)
    opener = encryption.Opener(queue, data_keys.principal_of(receiver), clock=clock)
    results = [_received(queue, m, opener) for m in batch]
    events.record_many(
        queue.workspace,
        [
            {
                "kind": "message.received",
                "queue": queue.name,
                "message_id": m.message_id,
                "at": now,
                "data": {
                    "receiver": receiver,
                    "receipt_handle": r.receipt_handle,
                    "receive_count": m.receive_count,
                    "visible_at": m.visible_at,
                    "retried_attempt": True,
                },
            }
            for m, r in zip(batch, results, strict=True)
        ],
        clock=clock,
    )
    return results


PEEK_LIMIT = 1000
PEEK_RECEIPT_HANDLE = "SQS/BACKDOOR/ACCESS"  # what other local emulators answer here


@dataclass(frozen=True)
class Peeked:
    received: Received  # with a placeholder receipt handle: nothing was received
    visible: bool  # receivable now (visible, and on FIFO its group not blocked)
    delayed: bool


def peek_messages(
    queue: Queue,
    *,
    now: float,
    show_invisible: bool = False,
    show_delayed: bool = False,
    limit: int = PEEK_LIMIT,
) -> list[Peeked]:
    """The queue's messages in send order, changing nothing (no receive, no count).

    Receivable ones always; in-flight ones (and on FIFO the messages waiting behind
    them in a blocked group) with `show_invisible`; delayed ones with
    `show_delayed`. At most `limit` (a developer's look, not an export).
    """
    qs = Message.objects.filter(queue=queue)
    in_flight = Q(visible_at__gt=now, receive_count__gt=0)
    delayed = Q(visible_at__gt=now, receive_count=0)
    blocked_groups = (
        set(
            MessageGroup.objects.filter(queue=queue, ready_at__gt=now).values_list(
                "group_id", flat=True
            )
        )
        if queue.is_fifo
        else set()
    )
    if not show_invisible:
        qs = (
            qs.exclude(in_flight).exclude(group_id__in=blocked_groups)
            if blocked_groups
            else qs.exclude(in_flight)
        )
    if not show_delayed:
        qs = qs.exclude(delayed)
    peeked, opener = [], encryption.Opener(queue)
    for m in qs.order_by("pk")[:limit]:
        received = replace(_received(queue, m, opener), receipt_handle=PEEK_RECEIPT_HANDLE)
        is_delayed = m.visible_at > now and not m.receive_count
        peeked.append(
            Peeked(
                received,
                visible=m.visible_at <= now and m.group_id not in blocked_groups,
                delayed=is_delayed,
            )
        )
    return peeked


def next_visible_at(queue: Queue, *, now: float) -> float | None:
    """When a receive could next find something that is hidden now, if ever."""
    if queue.is_fifo:
        return fifo.next_ready_at(queue, now=now)
    return Message.objects.filter(queue=queue, visible_at__gt=now).aggregate(t=Min("visible_at"))[
        "t"
    ]


# --- deleting and visibility ----------------------------------------------------------


@transaction.atomic
def delete_message(queue: Queue, receipt_handle: str, *, actor: str = "", clock) -> None:
    """Delete the message a receipt handle names (sqs.md §5.3, §7).

    A malformed handle raises ReceiptHandleIsInvalid. A handle of a message that is
    already gone succeeds, as on AWS. On a standard queue an older handle of the
    same message also deletes it; on a FIFO queue a handle whose visibility
    timeout has passed raises InvalidParameterValue. Records `message.deleted`.
    """
    message_pk, nonce = _parse_receipt_handle(queue, receipt_handle)
    expired = _delete(queue, [(message_pk, nonce, receipt_handle)], actor=actor, clock=clock)
    if expired:
        raise expired[0]


def delete_message_batch(
    queue: Queue, entries: list[dict], *, actor: str = "", clock
) -> BatchResult:
    """Entries: {"Id", "ReceiptHandle"}. Bad handles fail alone (sqs.md §4.6).

    The valid handles are deleted with one SELECT, one DELETE and one event INSERT.
    """
    check_batch_ids([e.get("Id") for e in entries])
    result = BatchResult()
    valid, ids = [], []
    for entry in entries:
        handle = entry.get("ReceiptHandle") or ""
        try:
            message_pk, nonce = _parse_receipt_handle(queue, handle)
        except errors.AwsError as exc:
            result.failed.append(BatchFailure(entry["Id"], exc.wire_query_code, exc.message))
        else:
            valid.append((message_pk, nonce, handle))
            ids.append(entry["Id"])
    if valid:
        with transaction.atomic():
            expired = {e.handle: e for e in _delete(queue, valid, actor=actor, clock=clock)}
        for entry_id, (_pk, _nonce, handle) in zip(ids, valid, strict=True):
            if handle in expired:
                exc = expired[handle]
                result.failed.append(BatchFailure(entry_id, exc.wire_query_code, exc.message))
            else:
                result.successful.append(entry_id)
    return result


class ExpiredReceiptHandle(errors.InvalidParameterValue):
    def __init__(self, handle: str):
        super().__init__(
            f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The "
            "receipt handle has expired."
        )
        self.handle = handle


def _delete(
    queue: Queue, handles: list[tuple[int, str, str]], *, actor: str, clock
) -> list[ExpiredReceiptHandle]:
    """Delete the messages of parsed handles (pk, nonce, handle); gone ones are no-ops.

    Returns the handles refused because they expired (FIFO only, sqs.md §5.3).
    """
    # Locked: the states the tally subtracts must still be the rows' own.
    found = {
        pk: (message_id, current_nonce, visible_at, group_id, (hidden, receive_count > 0))
        for pk, message_id, current_nonce, visible_at, group_id, hidden, receive_count in Message.objects.select_for_update()
        .filter(queue=queue, pk__in={pk for pk, _, _ in handles})
        .values_list(
            "pk", "message_id", "receipt_nonce", "visible_at", "group_id", "hidden", "receive_count"
        )
    }
    expired: list[ExpiredReceiptHandle] = []
    if queue.is_fifo:
        now = clock.now()
        for pk, nonce, handle in handles:
            if pk in found and (nonce != found[pk][1] or found[pk][2] <= now):
                expired.append(ExpiredReceiptHandle(handle))
                del found[pk]
    if not found:
        return expired
    Message.objects.filter(pk__in=found).delete()
    tally.record(queue.pk, before=[row[4] for row in found.values()])
    if queue.is_fifo:
        fifo.settle(queue, {row[3] for row in found.values()}, now=clock.now())
        # The group may be readable again at once.
        transaction.on_commit(partial(wakeup.notify, queue.pk), robust=True)
    recorded, seen = [], set()
    for pk, nonce, handle in handles:
        if pk not in found or pk in seen:
            continue
        seen.add(pk)
        message_id, current_nonce = found[pk][:2]
        recorded.append(
            {
                "kind": "message.deleted",
                "queue": queue.name,
                "message_id": message_id,
                "data": {
                    "by": actor,
                    "receipt_handle": handle,
                    "stale_handle": nonce != current_nonce,
                },
            }
        )
    events.record_many(queue.workspace, recorded, clock=clock)
    return expired


@transaction.atomic
def change_message_visibility(
    queue: Queue, receipt_handle: str, visibility: int, *, actor: str = "", clock
) -> None:
    """Hide a received message for `visibility` seconds from now (sqs.md §6).

    The new timeout counts from this call; 0 makes it visible at once. The total
    may not pass 12 hours after the receive. Records `message.visibility_changed`.
    Raises ReceiptHandleIsInvalid, InvalidParameterValue (deleted message, range),
    MessageNotInflight (an older handle of a message that is visible again).
    """
    message_pk, nonce = _parse_receipt_handle(queue, receipt_handle)
    if not 0 <= visibility <= MAX_VISIBILITY:
        raise errors.InvalidParameterValue(
            f"Value {visibility} for parameter VisibilityTimeout is invalid. Reason: Must be "
            f"between 0 and {MAX_VISIBILITY}, if provided."
        )
    message = Message.objects.select_for_update().filter(pk=message_pk, queue=queue).first()
    if message is None:
        raise errors.InvalidParameterValue(
            f"Value {receipt_handle} for parameter ReceiptHandle is invalid. Reason: Message "
            "does not exist or is not available for visibility timeout change."
        )
    now = clock.now()
    if nonce != message.receipt_nonce:
        if message.visible_at <= now:
            raise errors.MessageNotInflight()
        return  # an older receive's handle: AWS answers 200 and changes nothing
    if now + visibility - (message.received_at or now) > MAX_VISIBILITY:
        raise errors.InvalidParameterValue(
            f"Value {visibility} for parameter VisibilityTimeout is invalid. Reason: Total "
            f"VisibilityTimeout for the message is beyond the limit [{MAX_VISIBILITY} seconds]."
        )
    before = tally.state(message)
    message.visible_at = now + visibility
    message.hidden = visibility > 0
    message.save(update_fields=["visible_at", "hidden"])
    tally.record(queue.pk, before=[before], after=[tally.state(message)])
    if queue.is_fifo:
        # Extending one message extends its group's block; ending it may free the group.
        fifo.settle(queue, [message.group_id], now=now)
    events.record(
        queue.workspace,
        "message.visibility_changed",
        queue=queue.name,
        message_id=message.message_id,
        data={"by": actor, "visibility": visibility, "visible_at": message.visible_at},
        clock=clock,
    )
    if visibility == 0:
        transaction.on_commit(partial(wakeup.notify, queue.pk), robust=True)


def change_message_visibility_batch(
    queue: Queue, entries: list[dict], *, actor: str = "", clock
) -> BatchResult:
    """Entries: {"Id", "ReceiptHandle", "VisibilityTimeout"}; failures stay per entry."""
    check_batch_ids([e.get("Id") for e in entries])
    result = BatchResult()
    with transaction.atomic():
        for entry in entries:
            try:
                with transaction.atomic():
                    change_message_visibility(
                        queue,
                        entry.get("ReceiptHandle") or "",
                        int(entry.get("VisibilityTimeout") or 0),
                        actor=actor,
                        clock=clock,
                    )
            except errors.AwsError as exc:
                result.failed.append(BatchFailure(entry["Id"], exc.wire_query_code, exc.message))
            else:
                result.successful.append(entry["Id"])
    return result


@transaction.atomic
def purge_queue(queue: Queue, *, clock) -> int:
    """Delete every message, in flight or not; once per 60 s (sqs.md §7)."""
    now = clock.now()
    if queue.last_purged_at is not None and now - queue.last_purged_at < 60:
        raise errors.PurgeQueueInProgress(
            f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds."
        )
    # One DELETE per state: each statement's rowcount is exact even while receivers
    # change rows under it (PostgreSQL re-checks a waited-for row's state).
    gone: list[tally.State] = []
    for hidden, received in ((True, True), (True, False), (False, None)):
        qs = Message.objects.filter(queue=queue, hidden=hidden)
        if received is not None:
            qs = qs.filter(receive_count__gt=0) if received else qs.filter(receive_count=0)
        n, _ = qs.delete()
        gone += [(hidden, bool(received))] * n
    tally.record(queue.pk, before=gone)
    deleted = len(gone)
    MessageGroup.objects.filter(queue=queue).delete()
    queue.last_purged_at = now
    queue.save(update_fields=["last_purged_at"])
    events.record(
        queue.workspace, "queue.purged", queue=queue.name, data={"deleted": deleted}, clock=clock
    )
    return deleted


# --- the ticker's part ------------------------------------------------------------------


def announce_returns(workspace, *, clock, limit: int = 500) -> int:
    """Record `message.visible` for hidden messages whose time has come.

    The state itself needs no update (visibility is `visible_at <= now`); this
    only puts "visibility expired" / "delay ended" on the timelines and wakes
    long polls. Returns how many were announced.
    """
    now = clock.now()
    pending = Message.objects.filter(hidden=True, visible_at__lte=now, queue__workspace=workspace)
    # Look before taking the write lock: on SQLite an IMMEDIATE transaction 20
    # times a second per workspace would stall every sender for nothing.
    if not pending.exists():
        return 0
    with transaction.atomic():
        return _announce(workspace, pending, clock=clock, limit=limit)


def _announce(workspace, pending, *, clock, limit: int) -> int:
    pending = pending.order_by("visible_at")
    if connection.features.has_select_for_update_skip_locked:
        # A receiver holding a row announces its return itself (see `receive_messages`).
        pending = pending.select_for_update(skip_locked=True, of=("self",))
    due = list(pending.select_related("queue")[:limit])
    if not due:
        return 0
    Message.objects.filter(pk__in=[m.pk for m in due]).update(hidden=False)
    for queue_pk in {m.queue_id for m in due}:
        mine = [m for m in due if m.queue_id == queue_pk]
        tally.record(queue_pk, before=[tally.state(m) for m in mine], after=tally.shown(len(mine)))
    events.record_many(
        workspace,
        [
            {
                "kind": "message.visible",
                "queue": m.queue.name,
                "message_id": m.message_id,
                "at": m.visible_at,
                "data": {"reason": "visibility_expired" if m.receive_count else "delay_ended"},
            }
            for m in due
        ],
        clock=clock,
    )
    for queue_pk in {m.queue_id for m in due}:
        transaction.on_commit(partial(wakeup.notify, queue_pk), robust=True)
    return len(due)
