"""A queue's attributes: what each one means, its bounds and default, and how
GetQueueAttributes / SetQueueAttributes read and write them (sqs.md §2).

`validated_attributes` is the one check that CreateQueue, SetQueueAttributes and the
queue page's form all go through, so each refuses a value with the same AWS error;
`attribute_errors` returns those errors per attribute for the form. The redrive
policy (a DLQ and maxReceiveCount) and the redrive allow policy (who may use this
queue as their DLQ) are parsed here too.
"""

from __future__ import annotations

import json

from django.db import transaction

from broker import arns, errors, events
from broker.models import Queue
from broker.numbers import parse_int
from broker.sqs import fifo
from broker.sqs.lookup import queue_by_arn
from broker.sqs.tally import counts

MAX_VISIBILITY = 43_200  # 12 hours, also the ceiling counted from the receive


MAX_DELAY = 900


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


def _int_attribute(name: str, value: str) -> int:
    _field, low, high = (
        KMS_REUSE if name == "KmsDataKeyReusePeriodSeconds" else INT_ATTRIBUTES[name]
    )
    number = value if type(value) is int else parse_int(str(value))
    if number is None or not low <= number <= high:
        raise errors.InvalidAttributeValue(
            f"Invalid value for the parameter {name}. Reason: must be an integer "
            f"between {low} and {high}.",
            field=name,
        )
    return number


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
    own_arn = arns.queue(workspace, own_name)
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


def validated_attributes(
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
    values = validated_attributes(queue.workspace, queue.name, attributes)
    check_throughput_pair(
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
            validated_attributes(queue.workspace, queue.name, {name: value})
        except errors.AwsError as exc:
            found[name] = exc
    if not found:
        try:
            values = validated_attributes(queue.workspace, queue.name, attributes)
            check_throughput_pair(
                values.get("deduplication_scope", queue.deduplication_scope),
                values.get("fifo_throughput_limit", queue.fifo_throughput_limit),
            )
        except errors.AwsError as exc:
            found[exc.field or "FifoThroughputLimit"] = exc
    return found


def check_throughput_pair(scope: str, limit: str) -> None:
    """High throughput needs both halves (sqs.md §2.1, §9)."""
    if limit == "perMessageGroupId" and scope != "messageGroup":
        raise errors.InvalidAttributeValue(
            "Invalid value for the parameter FifoThroughputLimit. Reason: The "
            "perMessageGroupId value is allowed only when the value for DeduplicationScope "
            "is messageGroup.",
            field="FifoThroughputLimit",
        )
