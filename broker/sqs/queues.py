"""Queues themselves: CreateQueue (its name rules and idempotency), ListQueues, DeleteQueue
(and the 60 seconds before its name can be used again), tags and PurgeQueue
(sqs.md §1, §7).
"""

from __future__ import annotations

import base64
import binascii
import re

from django.db import transaction

from broker import errors, events
from broker.models import Event, Message, MessageGroup, Queue
from broker.sqs import tags as queue_tags
from broker.sqs import tally
from broker.sqs.attributes import (
    FIFO_CHOICES,
    INT_ATTRIBUTES,
    check_throughput_pair,
    validated_attributes,
)

MAX_LIST_QUEUES = 1000


RECREATE_AFTER = 60  # seconds between deleting a queue and reusing its name


QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


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
    name was deleted less than 60 s ago, under the workspace's strict rules). Records
    `queue.created`.
    """
    attributes = attributes or {}
    _check_queue_name(name, attributes)
    tags = queue_tags.merged(name, {}, tags or {})
    values = validated_attributes(workspace, name, attributes, creating=True)
    check_throughput_pair(
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
    if (
        workspace.aws_strict
        and Event.objects.filter(
            workspace=workspace, kind="queue.deleted", queue=name, at__gt=now - RECREATE_AFTER
        ).exists()
    ):
        raise errors.QueueDeletedRecently(
            f"You must wait {RECREATE_AFTER} seconds after deleting a queue before you can "
            "create another with the same name.",
            field="name",
        )
    queue = Queue.objects.create(
        workspace=workspace,
        name=name,
        tags=tags,
        created_at=now,
        modified_at=now,
        **values,
    )
    events.record(workspace, "queue.created", queue=name, clock=clock)
    return queue


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


@transaction.atomic
def tag_queue(queue: Queue, tags: dict[str, str], *, clock) -> None:
    queue.tags = queue_tags.merged(queue.name, queue.tags, tags)
    queue.save(update_fields=["tags"])
    events.record(
        queue.workspace, "queue.updated", queue=queue.name, data={"tags": sorted(tags)}, clock=clock
    )


@transaction.atomic
def untag_queue(queue: Queue, keys: list[str], *, clock) -> None:
    queue_tags.check_keys(keys)
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


@transaction.atomic
def purge_queue(queue: Queue, *, clock) -> int:
    """Delete every message, in flight or not; once per 60 s under the workspace's strict
    rules (sqs.md §7)."""
    now = clock.now()
    strict = queue.workspace.aws_strict
    if strict and queue.last_purged_at is not None and now - queue.last_purged_at < 60:
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
