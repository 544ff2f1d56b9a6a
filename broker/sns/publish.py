"""Publish: one message to a topic, pushed at once to every subscription (sns.md §4).

SNS is push: a publish delivers a copy to each confirmed subscriber while the
publisher waits for nothing more than the topic to accept it, where an SQS message
waits in its queue to be polled. Each first attempt is made in the publish's own
transaction, in a savepoint of its own (`deliveries.deliver_now`): an endpoint that
refuses fails that delivery alone, which is then retried, dead-lettered or discarded
as `deliveries` says, and the others go through. A subscription whose filter policy
the message does not pass gets nothing, recorded with the reason as
`subscription.filtered_out`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import F

from broker import costs, errors, events, message_attributes
from broker.models import Queue, Subscription, Topic, TopicDeduplication
from broker.sns import deliveries, encryption, filters, inboxes
from broker.sns.topics import invalid

MAX_MESSAGE_BYTES = 262_144
DEDUPLICATION_WINDOW = 300  # seconds: a FIFO topic's deduplication interval
MAX_SUBJECT = 99  # "less than 100 characters"
GROUP_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
NUMBER_LIMIT = Decimal(10) ** 9


@dataclass(frozen=True)
class Published:
    message_id: str
    sequence_number: str | None = None


@dataclass
class BatchPublished:
    successful: list[tuple[str, Published]]  # (entry id, what it published)
    failed: list[tuple[str, errors.AwsError]]  # (entry id, why it was refused)


MAX_BATCH_ENTRIES = 10
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def publish_batch(topic: Topic, entries: list[dict], *, base_url: str, clock) -> BatchPublished:
    """PublishBatch (sns.md §4.3): up to 10 entries, each published as Publish does, in
    order; an entry SNS refuses fails alone. Whole-request errors (too many, none,
    repeated or bad ids, more than 256 KiB in all) refuse everything.

    Each entry: {"Id", "Message", "Subject"?, "MessageStructure"?, "MessageAttributes"?,
    "MessageGroupId"?, "MessageDeduplicationId"?}.
    """
    if not entries:
        raise errors.SnsEmptyBatchRequest()
    if len(entries) > MAX_BATCH_ENTRIES:
        raise errors.SnsTooManyEntriesInBatchRequest()
    ids = [str(e.get("Id") or "") for e in entries]
    for entry_id in ids:
        if not BATCH_ID_RE.match(entry_id):
            what = "is too long" if len(entry_id) > 80 else "contains an impermissible character"
            raise errors.SnsInvalidBatchEntryId(
                f"The Id of a batch entry in the batch request {what}: {entry_id[:100]}"
            )
    if len(set(ids)) != len(ids):
        raise errors.SnsBatchEntryIdsNotDistinct()
    size = sum(len(str(e.get("Message") or "").encode()) for e in entries)
    if size > MAX_MESSAGE_BYTES:
        raise errors.SnsBatchRequestTooLong()
    # One request, billed by its payload's 64 KB chunks, not one per entry.
    costs.sns_publish(topic.workspace_id, payload_bytes=size)
    result = BatchPublished([], [])
    for entry_id, entry in zip(ids, entries, strict=True):
        subject = entry.get("Subject")
        try:
            with transaction.atomic():
                published = publish(
                    topic,
                    message=str(entry.get("Message") or ""),
                    subject=None if subject is None else str(subject),
                    structure=entry.get("MessageStructure") or None,
                    attributes=entry.get("MessageAttributes") or {},
                    group_id=entry.get("MessageGroupId") or None,
                    deduplication_id=entry.get("MessageDeduplicationId") or None,
                    base_url=base_url,
                    clock=clock,
                    billed=False,
                )
        except errors.AwsError as error:
            result.failed.append((entry_id, error))
        else:
            result.successful.append((entry_id, published))
    return result


def _attribute_error(text: str) -> errors.AwsError:
    return errors.SnsParameterValueInvalid(text)


def validated_attributes(attributes: dict) -> tuple[dict, int]:
    """SNS's message attributes, refused with SNS's texts; (stored form, byte size).

    The shapes and data types are SQS's (`message_attributes`), but SNS checks names rule
    by rule with its own texts and codes, adds String.Array and the Number range, so this
    is a check of its own rather than `message_attributes.validate`."""
    stored, size = {}, 0
    for name, value in attributes.items():
        if name.startswith("."):
            raise _attribute_error(
                "Invalid message attribute name starting with character '.' was found."
            )
        if name.endswith("."):
            raise _attribute_error(
                "Invalid message attribute name ending with character '.' was found."
            )
        if ".." in name:
            raise _attribute_error("Message attribute name can not have successive '.' character.")
        bad = re.search(r"[^A-Za-z0-9_.-]", name)
        if bad:
            raise _attribute_error(
                f"Invalid non-alphanumeric character '#x{ord(bad.group()):X}' was found in the "
                "message attribute name. Can only include alphanumeric characters, hyphens, "
                "underscores, or dots."
            )
        if len(name.encode()) >= 256:
            raise _attribute_error("Length of message attribute name must be less than 256 bytes.")
        value = value or {}
        data_type = str(value.get("DataType") or "")
        if not data_type:
            raise errors.SnsValidationError(
                f"1 validation error detected: Value null at 'messageAttributes.{name}.member."
                "dataType' failed to satisfy constraint: Member must not be null"
            )
        base = data_type.split(".", 1)[0]
        if base not in message_attributes.DATA_TYPES:
            raise _attribute_error(
                f"The message attribute '{name}' has an invalid message attribute type, the set "
                "of supported type prefixes is Binary, Number, and String."
            )
        if base == "Binary":
            if "BinaryValue" not in value:
                raise _attribute_error(
                    f"The message attribute '{name}' with type 'Binary' must use field 'Binary'."
                )
            raw = value["BinaryValue"]
            raw = raw if isinstance(raw, bytes) else str(raw).encode()
            if not raw:
                raise _attribute_error(
                    f"The message attribute '{name}' must contain non-empty message attribute "
                    "value for message attribute type 'Binary'."
                )
            stored[name] = {"DataType": data_type, "BinaryValue": raw}
            size += len(name.encode()) + len(data_type.encode()) + len(raw)
            continue
        if "StringValue" not in value:
            raise _attribute_error(
                f"The message attribute '{name}' with type '{base}' must use field 'String'."
            )
        text = str(value["StringValue"])
        if not text:
            raise _attribute_error(
                f"The message attribute '{name}' must contain non-empty message attribute value "
                f"for message attribute type '{data_type}'."
            )
        if base == "Number":
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or abs(number) > NUMBER_LIMIT:
                raise _attribute_error(
                    f"Value {text[:40]} cannot be converted to a number between -10^9 and 10^9."
                )
        if data_type == "String.Array":
            try:
                items = json.loads(text)
            except (ValueError, RecursionError):
                items = None
            if not isinstance(items, list) or any(isinstance(i, dict | list) for i in items):
                raise _attribute_error(
                    f"The message attribute '{name}' with type 'String.Array' must be a JSON "
                    "array of strings, numbers, true, false or null."
                )
        stored[name] = {"DataType": data_type, "StringValue": text}
        size += len(name.encode()) + len(data_type.encode()) + len(text.encode())
    return stored, size


def _messages(message: str, structure: str | None) -> dict[str, str]:
    """The message each protocol gets: one for all, or MessageStructure=json's own."""
    if not structure:
        return {"default": message}
    if structure != "json":
        raise invalid("MessageStructure")
    try:
        parsed = json.loads(message)
    except (ValueError, RecursionError):
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("default"), str):
        raise invalid("Message Structure - No default entry in JSON message body")
    return {k: v for k, v in parsed.items() if isinstance(v, str)}


@transaction.atomic
def publish(
    topic: Topic,
    *,
    message: str,
    subject: str | None = None,
    structure: str | None = None,
    attributes: dict | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    base_url: str,
    clock,
    billed: bool = True,
) -> Published:
    """Accept one message and deliver it to every SQS subscription of the topic.

    Records `topic.published`, and per subscription that gets nothing
    `subscription.filtered_out` or `subscription.delivery_failed`;
    the queues record their own `message.sent`. Raises InvalidParameter and
    ParameterValueInvalid with SNS's texts; nothing is delivered when it raises.
    Counts a publish request per 64 KB chunk (`broker/costs.py`) unless not `billed`:
    an entry of a PublishBatch, which counts once for all its entries.
    """
    if message is None or message == "":
        raise invalid("Empty message")
    if subject is not None and (
        not subject or len(subject) > MAX_SUBJECT or any(ord(c) < 32 for c in subject)
    ):
        raise invalid("Subject")
    stored, attributes_size = validated_attributes(attributes or {})
    if len(message.encode()) + attributes_size > MAX_MESSAGE_BYTES:
        raise invalid("Message too long")
    if billed:
        costs.sns_publish(topic.workspace_id, payload_bytes=len(message.encode()) + attributes_size)
    per_protocol = _messages(message, structure)
    if topic.is_fifo:
        if not group_id:
            raise invalid("The MessageGroupId parameter is required for FIFO topics")
        if not GROUP_ID_RE.match(group_id):
            raise invalid("MessageGroupId")
        if not deduplication_id:
            if topic.attributes.get("ContentBasedDeduplication") != "true":
                raise invalid(
                    "The topic should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            deduplication_id = hashlib.sha256(message.encode()).hexdigest()
    elif deduplication_id:
        raise invalid(
            "MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
            "parameter that is not valid for this topic type"
        )
    message_id = str(uuid.uuid4())
    sequence_number = None
    if topic.is_fifo:
        # The row lock of the sequence's UPDATE also orders concurrent duplicates.
        Topic.objects.filter(pk=topic.pk).update(sequence=F("sequence") + 1)
        topic.refresh_from_db(fields=["sequence"])
        now = clock.now()
        seen = TopicDeduplication.objects.filter(
            topic=topic, deduplication_id=deduplication_id, expires_at__gt=now
        ).first()
        if seen is not None:
            events.record(
                topic.workspace,
                "topic.deduplicated",
                subject=events.subject("topic", topic.name),
                data={
                    "message_id": seen.message_id,
                    "deduplication_id": deduplication_id,
                    "group_id": group_id,
                },
                clock=clock,
            )
            return Published(seen.message_id, seen.sequence_number)
        sequence_number = f"{topic.sequence:020d}"
        TopicDeduplication.objects.update_or_create(
            topic=topic,
            deduplication_id=deduplication_id,
            defaults={
                "message_id": message_id,
                "sequence_number": sequence_number,
                "expires_at": now + DEDUPLICATION_WINDOW,
            },
        )
    sealing = encryption.data_key(topic, clock=clock)  # KMS's refusal fails the publish
    note = deliveries.Notification(
        topic=topic,
        sealing=sealing,
        message_id=message_id,
        messages=per_protocol,
        at=clock.now(),
        base_url=base_url,
        subject=subject,
        attributes=stored,
        structured=bool(structure),
        group_id=group_id,
        deduplication_id=deduplication_id,
        sequence_number=sequence_number,
    )
    subscriptions = list(Subscription.objects.filter(topic=topic, confirmed=True))
    note.queues = _subscribed_queues(topic, subscriptions)
    delivered, queued, failed, filtered = [], [], 0, []
    for subscription in subscriptions:
        subscription.topic = topic  # one topic object for every copy
        verdict = _filter(subscription, message=message, attributes=stored)
        if not verdict.matched:
            filtered.append(
                {
                    "kind": "subscription.filtered_out",
                    "subject": events.subject("topic", topic.name),
                    "data": {
                        "subscription": str(subscription.uuid),
                        "protocol": subscription.protocol,
                        "endpoint": subscription.endpoint,
                        "message_id": message_id,
                        "reason": verdict.why,
                    },
                }
            )
            continue
        outcome = deliveries.deliver_now(subscription, note, clock=clock)
        if outcome == "delivered":
            delivered.append(str(subscription.uuid))
        elif outcome == "queued":
            queued.append(str(subscription.uuid))
        else:
            failed += 1
    if filtered:  # one INSERT for every subscription the message did not pass
        events.record_many(topic.workspace, filtered, clock=clock)
    events.record(
        topic.workspace,
        "topic.published",
        subject=events.subject("topic", topic.name),
        data={
            "message_id": message_id,
            "delivered": len(delivered),
            "delivered_to": delivered,
            "failed": failed,
            "filtered_out": len(filtered),
            "sending_to": queued,
        },
        clock=clock,
    )
    return Published(message_id, sequence_number)


def _subscribed_queues(topic: Topic, subscriptions: list[Subscription]) -> dict:
    """The account's queues the subscriptions name, by ARN, in one query (in any of
    its regions: SNS delivers across regions)."""
    arns_of_queues = {s.endpoint for s in subscriptions if s.protocol == "sqs"}
    names = {a.rsplit(":", 1)[-1] for a in arns_of_queues}
    found = {}
    for queue in Queue.objects.filter(
        workspace__account_id=topic.workspace.account_id, name__in=names
    ).select_related("workspace"):
        if queue.workspace_id == topic.workspace_id:
            queue.workspace = topic.workspace
        if queue.arn in arns_of_queues:
            found[queue.arn] = queue
    return found


def _filter(subscription: Subscription, *, message: str, attributes: dict) -> filters.Verdict:
    """The subscription's filter policy applied to the published message (none: a match)."""
    text = subscription.attributes.get("FilterPolicy")
    if not text:
        return filters.Verdict(True)
    scope = subscription.attributes.get("FilterPolicyScope", "MessageAttributes")
    return filters.evaluate(json.loads(text), scope=scope, attributes=attributes, message=message)


MAX_SMS_CHARACTERS = 1600  # SNS splits longer texts' delivery into parts, up to this


@transaction.atomic
def publish_sms(workspace, number: str, *, message: str, base_url: str, clock) -> Published:
    """Publish with PhoneNumber: one text straight to the phone's inbox, no topic. A phone
    that opted out gets nothing; the publish still succeeds, as on AWS, and the event
    says why nothing arrived."""
    number = inboxes.checked_number(number, "PhoneNumber")
    if not message:
        raise invalid("Empty message")
    if len(message) > MAX_SMS_CHARACTERS:
        raise invalid("Message too long")
    costs.sns_publish(workspace, payload_bytes=len(message.encode()))
    message_id = str(uuid.uuid4())
    note = deliveries.Notification(
        topic=None,
        message_id=message_id,
        messages={"default": message},
        at=clock.now(),
        base_url=base_url,
    )
    try:
        deliveries.send_text(workspace, number, note, clock=clock)
        costs.sns_delivery(workspace, "sms")
    except deliveries.Failure as failure:
        events.record(
            workspace,
            "inbox.refused",
            subject=events.subject("inbox", f"sms:{number}"),
            message_id=message_id,
            data={"address": number, "error": failure.code, "reason": failure.reason},
            clock=clock,
        )
    return Published(message_id)
