"""Dead-letter queue redrive: message move tasks (sqs.md §8).

`start_move_task` takes a dead-letter queue and moves its messages back to the
queues they came from (their `DeadLetterQueueSourceArn`), or to one chosen
destination, at most `MaxNumberOfMessagesPerSecond` a simulated second. The
ticker calls `advance_move_tasks` for every workspace; each call moves what the
rate allows since the task started, in one transaction, so a task's progress is
its `moved` column and the page shows it live (`move_task.progress` events).

A moved message arrives as a newly enqueued one: receive count reset, at the
tail of its destination (and of its group on a FIFO queue). It keeps its
MessageId, body, attributes and SentTimestamp, so its timeline continues and
retention still counts from the first send. One task runs per source queue.
"""

from __future__ import annotations

import uuid

from django.db import connection, transaction

from broker import errors, events, sqs, wakeup
from broker.kms import encryption
from broker.models import Message, MoveTask, Queue
from broker.sqs import fifo, tally

MAX_RATE = 500
DEFAULT_RATE = 100  # "system optimized" when no rate is given
STEP_LIMIT = 500  # messages moved in one ticker pass at most
# Whose data keys a move task opens and reseals messages with: its own, as SQS runs it.
MOVE_TASK_PRINCIPAL = "sqs:message-move-task"


def _queue_by_arn(workspace, arn: str) -> Queue:
    queue = sqs.queue_by_arn(workspace, arn)
    if queue is None:
        raise errors.ResourceNotFoundException("The resource that you requested couldn't be found.")
    return queue


@transaction.atomic
def start_move_task(
    workspace,
    source_arn: str,
    *,
    destination_arn: str | None = None,
    rate: int | None = None,
    clock,
) -> MoveTask:
    """Start moving a dead-letter queue's messages (StartMessageMoveTask).

    Raises ResourceNotFoundException (unknown queue), InvalidParameterValue (the
    source is no queue's dead-letter queue, a task already runs, a bad rate or a
    destination of the other queue type).
    """
    source = _queue_by_arn(workspace, source_arn)
    if not Queue.objects.filter(workspace=workspace, dead_letter_target_arn=source.arn).exists():
        raise errors.InvalidParameterValue(
            "Source queue must be configured as a Dead Letter Queue.", field="source"
        )
    destination = None
    if destination_arn:
        destination = _queue_by_arn(workspace, destination_arn)
        if destination.pk == source.pk:
            raise errors.InvalidParameterValue(
                "Destination queue must be different from the source queue.", field="destination"
            )
        if destination.is_fifo != source.is_fifo:
            raise errors.InvalidParameterValue(
                "Destination queue must be of the same type as the source queue.",
                field="destination",
            )
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise errors.InvalidParameterValue(
            f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: "
            f"Must be between 1 and {MAX_RATE}.",
            field="rate",
        )
    if MoveTask.objects.filter(source=source, status=MoveTask.Status.RUNNING).exists():
        raise errors.InvalidParameterValue(
            "There is already a task running. Only one active task is allowed for a source "
            "queue arn at a given time.",
            field="source",
        )
    now = clock.now()
    task = MoveTask.objects.create(
        workspace=workspace,
        source=source,
        handle=str(uuid.uuid4()),
        destination_arn=destination.arn if destination else "",
        rate=rate,
        to_move=sqs.counts(source, now=now).total,
        started_at=now,
    )
    events.record(
        workspace, "move_task.started", queue=source.name, clock=clock, data=progress(task)
    )
    return task


def progress(task: MoveTask) -> dict:
    return {
        "task": task.handle,
        "status": task.status,
        "moved": task.moved,
        "to_move": task.to_move,
        "destination": task.destination_arn,
        "rate": task.rate,
        "failure": task.failure_reason,
    }


def list_move_tasks(
    workspace, source_arn: str, *, max_results: int | None = None
) -> list[MoveTask]:
    """The source's tasks, newest first (ListMessageMoveTasks: 1 to 10, default 1)."""
    if max_results is not None and not 1 <= max_results <= 10:
        raise errors.InvalidParameterValue(
            f"Value {max_results} for parameter MaxResults is invalid. Reason: Must be between "
            "1 and 10, if provided."
        )
    source = _queue_by_arn(workspace, source_arn)
    return list(
        MoveTask.objects.filter(source=source).order_by("-started_at", "-pk")[: max_results or 1]
    )


@transaction.atomic
def cancel_move_task(workspace, handle: str, *, clock) -> MoveTask:
    """Stop a running task; what it moved stays moved (CancelMessageMoveTask)."""
    task = (
        MoveTask.objects.select_for_update(of=("self",))
        .select_related("source")
        .filter(workspace=workspace, handle=handle, status=MoveTask.Status.RUNNING)
        .first()
    )
    if task is None:
        raise errors.ResourceNotFoundException("Task does not exist.")
    task.status = MoveTask.Status.CANCELLED
    task.finished_at = clock.now()
    task.save(update_fields=["status", "finished_at"])
    events.record(
        workspace, "move_task.cancelled", queue=task.source.name, clock=clock, data=progress(task)
    )
    return task


# --- the ticker's part ------------------------------------------------------------------


def advance_move_tasks(workspace, *, clock) -> int:
    """Move what each running task's rate allows by now; returns how many moved."""
    pks = list(
        MoveTask.objects.filter(workspace=workspace, status=MoveTask.Status.RUNNING).values_list(
            "pk", flat=True
        )
    )
    return sum(_advance(pk, clock=clock) for pk in pks)


@transaction.atomic
def _advance(pk: int, *, clock) -> int:
    task = (
        MoveTask.objects.select_for_update(of=("self",))
        .select_related("source", "workspace")
        .filter(pk=pk, status=MoveTask.Status.RUNNING)
        .first()
    )
    if task is None:
        return 0
    now = clock.now()
    rate = task.rate or DEFAULT_RATE
    allowed = min(int((now - task.started_at) * rate) + 1 - task.moved, STEP_LIMIT)
    if allowed <= 0:
        return 0
    source = task.source
    messages = Message.objects.filter(queue=source, visible_at__lte=now).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        messages = messages.select_for_update(skip_locked=True)  # not what a receiver holds
    messages = list(messages[:allowed])
    try:
        with transaction.atomic():  # a failure undoes this step's moves, not the task
            moved = _move(task, source, messages, now=now, clock=clock) if messages else 0
    except errors.KmsFailure as exc:
        moved = 0
        task.status = MoveTask.Status.FAILED
        task.failure_reason = exc.code
    task.moved += moved
    done = task.moved >= task.to_move or not messages
    if task.status == MoveTask.Status.FAILED:
        done = True
    elif done:
        task.status = MoveTask.Status.COMPLETED
    if done:
        task.finished_at = now
    task.save(update_fields=["moved", "status", "finished_at", "failure_reason"])
    if moved or done:
        kind = "move_task.progress" if not done else f"move_task.{task.status.lower()}"
        events.record(task.workspace, kind, queue=source.name, clock=clock, data=progress(task))
    return moved


def _move(task: MoveTask, source: Queue, messages: list[Message], *, now: float, clock) -> int:
    """Re-enqueue `messages` at their destinations; stop the task at one it cannot place."""
    by_arn: dict[str, Queue | None] = {}

    def destination_of(m: Message) -> Queue | None:
        arn = task.destination_arn or (
            m.system_attributes.get("DeadLetterQueueSourceArn") or {}
        ).get("StringValue", "")
        if arn not in by_arn:
            by_arn[arn] = sqs.queue_by_arn(task.workspace, arn)
        return by_arn[arn]

    placed: dict[int, list[Message]] = {}
    targets: dict[int, Queue] = {}
    for m in messages:
        target = destination_of(m)
        if target is None or target.is_fifo != source.is_fifo:
            task.status = MoveTask.Status.FAILED
            task.failure_reason = (
                "AWS.SimpleQueueService.NonExistentQueue"
                if target is None
                else "The destination queue is of another type."
            )
            break
        placed.setdefault(target.pk, []).append(m)
        targets[target.pk] = target
    moving = [m for ms in placed.values() for m in ms]
    if not moving:
        return 0
    Message.objects.filter(pk__in=[m.pk for m in moving]).delete()
    tally.record(source.pk, before=[tally.state(m) for m in moving])
    if source.is_fifo:
        fifo.settle(source, {m.group_id for m in moving}, now=now)
    recorded, opener = [], encryption.Opener(source, MOVE_TASK_PRINCIPAL, clock=clock)
    for target_pk, ms in placed.items():
        target = targets[target_pk]
        fresh = [
            Message(
                queue=target,
                message_id=m.message_id,
                body=m.body,
                attributes=m.attributes,
                sealed=m.sealed,
                sealed_key=m.sealed_key,
                system_attributes={
                    k: v for k, v in m.system_attributes.items() if k != "DeadLetterQueueSourceArn"
                },
                md5_of_body=m.md5_of_body,
                md5_of_attributes=m.md5_of_attributes,
                sender_id=m.sender_id,
                sent_at=m.sent_at,
                visible_at=now,
                group_id=m.group_id,
                deduplication_id=m.deduplication_id,
            )
            for m in ms
        ]
        encryption.reseal(target, fresh, opener=opener, clock=clock)
        Message.objects.bulk_create(fresh)
        tally.record(target.pk, after=tally.shown(len(fresh)))
        if target.is_fifo:
            fifo.enqueue(target, fresh)
        transaction.on_commit(lambda pk=target.pk: wakeup.notify(pk), robust=True)
        recorded += [
            {
                "kind": "message.redriven",
                "queue": source.name,
                "message_id": m.message_id,
                "data": {"destination": target.name, "task": task.handle},
            }
            for m in ms
        ]
    events.record_many(task.workspace, recorded, clock=clock)
    return len(moving)
