"""The end of a visibility window: DeleteMessage (and its batch), ChangeMessageVisibility
(and its batch), and the announcements the ticker makes when a window runs out and a
message is visible again (sqs.md §4–5).
"""

from __future__ import annotations

from functools import partial

from django.db import connection, transaction

from broker import errors, events, wakeup
from broker.models import Message, Queue
from broker.sqs import fifo, tally
from broker.sqs.attributes import MAX_VISIBILITY
from broker.sqs.batches import BatchFailure, BatchResult, check_batch_ids
from broker.sqs.receipts import parse_receipt_handle


@transaction.atomic
def delete_message(queue: Queue, receipt_handle: str, *, actor: str = "", clock) -> None:
    """Delete the message a receipt handle names (sqs.md §5.3, §7).

    A malformed handle raises ReceiptHandleIsInvalid. A handle of a message that is
    already gone succeeds, as on AWS. On a standard queue an older handle of the
    same message also deletes it; on a FIFO queue a handle whose visibility
    timeout has passed raises InvalidParameterValue. Records `message.deleted`.
    """
    message_pk, nonce = parse_receipt_handle(queue, receipt_handle)
    expired = _delete(queue, [(message_pk, nonce, receipt_handle)], actor=actor, clock=clock)
    if expired:
        raise expired[0]


def delete_message_batch(
    queue: Queue, entries: list[dict], *, actor: str = "", clock
) -> BatchResult:
    """Entries: {"Id", "ReceiptHandle"}. Bad handles fail alone (sqs.md §4.6).

    The valid handles are deleted with one SELECT, one DELETE and one event INSERT.
    """
    check_batch_ids([e.get("Id") for e in entries], "DeleteMessageBatchRequestEntry")
    result = BatchResult()
    valid, ids = [], []
    for entry in entries:
        handle = entry.get("ReceiptHandle") or ""
        try:
            message_pk, nonce = parse_receipt_handle(queue, handle)
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
    message_pk, nonce = parse_receipt_handle(queue, receipt_handle)
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
    check_batch_ids([e.get("Id") for e in entries], "ChangeMessageVisibilityBatchRequestEntry")
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
