"""The SQS actions: each maps request parameters onto `broker.sqs` calls (`sqs.md` §10).

Every action takes a `Call` (who is calling, from where, with which clock) and the
request's parameters in JSON-protocol shape, and returns the JSON-protocol result.
No SQS semantics live here: validation of values, visibility, batches and
redrive are `broker.sqs`'s. ReceiveMessage's long poll is the view's loop around
`receive_message` (see `broker/api/views.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker import arns, errors, message_attributes, sqs
from broker.api import params as p
from broker.clock import Clock
from broker.kms import encryption
from broker.sqs import permissions, redrive, throughput


@dataclass
class Call:
    workspace: object
    clock: Clock
    base_url: str  # scheme://host as the client sent it
    actor: str  # "boto3 · AKIA…", shown on message timelines; data_keys.principal_of reads it
    path_queue_url: str | None = None  # old SDKs POST to the queue URL itself
    action: str = ""  # the action called, for FIFO call quotas
    signature_version: int = 4  # 2 for an old SigV2-signed query request
    queue_name: str = ""  # for the API feed
    payload_bytes: int = 0  # what a send carries: billed per 64 KB chunk (broker/costs.py)
    summary: dict = field(default_factory=dict)  # key parameters for the API feed

    def queue_url(self, queue) -> str:
        return arns.queue_url(
            self.base_url, self.workspace.account_id, queue.name, self.workspace.region
        )


def _queue(call: Call, params: dict):
    url = p.string(params, "QueueUrl") or call.path_queue_url
    if not url:
        raise errors.MissingParameter("The request must contain the parameter QueueUrl.")
    call.queue_name = url.rstrip("/").rsplit("/", 1)[-1][:80]
    queue = sqs.get_queue_by_url(call.workspace, url)
    queue.workspace = call.workspace  # one clock, one workspace row per request
    encryption.require_sigv4(queue, call.signature_version)
    throughput.admit(queue, call.action)
    return queue


def create_queue(call: Call, params: dict) -> dict:
    name = p.string(params, "QueueName", needed=True)
    call.queue_name = name[:80]
    queue = sqs.create_queue(
        call.workspace,
        name,
        attributes=p.string_map(params, "Attributes"),
        tags=p.string_map(params, "tags"),
        clock=call.clock,
    )
    return {"QueueUrl": call.queue_url(queue)}


def get_queue_url(call: Call, params: dict) -> dict:
    name = p.string(params, "QueueName", needed=True)
    call.queue_name = name[:80]
    owner = p.string(params, "QueueOwnerAWSAccountId")
    if owner and owner != call.workspace.account_id:
        raise errors.QueueDoesNotExist()
    return {"QueueUrl": call.queue_url(sqs.get_queue(call.workspace, name))}


def list_queues(call: Call, params: dict) -> dict:
    queues, token = sqs.list_queues(
        call.workspace,
        prefix=p.string(params, "QueueNamePrefix") or "",
        max_results=p.integer(params, "MaxResults"),
        next_token=p.string(params, "NextToken"),
    )
    result: dict = {}
    if queues:
        result["QueueUrls"] = [call.queue_url(q) for q in queues]
    if token:
        result["NextToken"] = token
    return result


def delete_queue(call: Call, params: dict) -> dict:
    sqs.delete_queue(_queue(call, params), clock=call.clock)
    return {}


def get_queue_attributes(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    attributes = sqs.get_queue_attributes(
        queue, p.string_list(params, "AttributeNames"), clock=call.clock
    )
    return {"Attributes": attributes} if attributes else {}


def set_queue_attributes(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    sqs.set_queue_attributes(
        queue, p.string_map(params, "Attributes", needed=True), clock=call.clock
    )
    return {}


def _sent(sent: sqs.Sent) -> dict:
    result = {"MD5OfMessageBody": sent.md5_of_body, "MessageId": sent.message_id}
    if sent.md5_of_attributes:
        result["MD5OfMessageAttributes"] = sent.md5_of_attributes
    if sent.md5_of_system_attributes:
        result["MD5OfMessageSystemAttributes"] = sent.md5_of_system_attributes
    if sent.sequence_number:
        result["SequenceNumber"] = sent.sequence_number
    return result


def _body(params: dict) -> str | None:
    body = params.get("MessageBody")
    if body is not None and not isinstance(body, str):
        raise errors.InvalidParameterValue("Value for parameter MessageBody must be a string.")
    return body


def send_message(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    body, attributes = _body(params), p.message_attributes(params.get("MessageAttributes"))
    call.payload_bytes = sqs.payload_size({"MessageBody": body, "MessageAttributes": attributes})
    sent = sqs.send_message(
        queue,
        body=body,
        attributes=attributes,
        system_attributes=p.message_attributes(
            params.get("MessageSystemAttributes"), "MessageSystemAttributes"
        ),
        delay_seconds=p.integer(params, "DelaySeconds"),
        group_id=p.string(params, "MessageGroupId"),
        deduplication_id=p.string(params, "MessageDeduplicationId"),
        sender=call.actor,
        clock=call.clock,
    )
    return _sent(sent)


def _batch_ids(entries: list[dict], entry_shape: str) -> None:
    for entry in entries:
        if not isinstance(entry.get("Id"), str):
            raise errors.InvalidBatchEntryId()
    sqs.check_batch_ids([e["Id"] for e in entries], entry_shape)


def _failed(result: sqs.BatchResult) -> list[dict]:
    return [
        {"Id": f.id, "SenderFault": f.sender_fault, "Code": f.code, "Message": f.message}
        for f in result.failed
    ]


def send_message_batch(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    raw = p.entries(params)
    _batch_ids(raw, "SendMessageBatchRequestEntry")
    entries = [
        {
            "Id": e["Id"],
            "MessageBody": _body(e),
            "MessageAttributes": p.message_attributes(e.get("MessageAttributes")),
            "MessageSystemAttributes": p.message_attributes(
                e.get("MessageSystemAttributes"), "MessageSystemAttributes"
            ),
            "DelaySeconds": p.integer(e, "DelaySeconds"),
            "MessageGroupId": p.string(e, "MessageGroupId"),
            "MessageDeduplicationId": p.string(e, "MessageDeduplicationId"),
        }
        for e in raw
    ]
    call.summary["entries"] = len(entries)
    call.payload_bytes = sum(sqs.payload_size(e) for e in entries)
    result = sqs.send_message_batch(queue, entries, sender=call.actor, clock=call.clock)
    return {
        "Successful": [{"Id": entry_id, **_sent(sent)} for entry_id, sent in result.successful],
        "Failed": _failed(result),
    }


def _wanted_system(params: dict) -> set[str]:
    names = set(p.string_list(params, "AttributeNames"))
    names |= set(p.string_list(params, "MessageSystemAttributeNames"))
    for name in names:
        if name not in sqs.SYSTEM_ATTRIBUTE_NAMES and name not in sqs.ALL_ATTRIBUTE_NAMES:
            raise errors.InvalidAttributeName(f"Unknown Attribute {name}.")
    return names


def _pick_attributes(attributes: dict, wanted: list[str]) -> dict:
    if not wanted or not attributes:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(attributes)
    prefixes = tuple(w[:-1] for w in wanted if w.endswith(".*"))
    exact = set(wanted)
    return {
        k: v for k, v in attributes.items() if k in exact or (prefixes and k.startswith(prefixes))
    }


@dataclass(frozen=True)
class ReceiveRequest:
    queue: object
    max_number: int
    visibility: int | None
    wait: int  # simulated seconds
    system: set
    message_attributes: list
    attempt_id: str | None = None


def receive_request(call: Call, params: dict) -> ReceiveRequest:
    """Validate a ReceiveMessage before the first try (sqs.md §5.1)."""
    queue = _queue(call, params)
    max_number = p.integer(params, "MaxNumberOfMessages")
    max_number = 1 if max_number is None else max_number
    if not 1 <= max_number <= 10:
        raise errors.InvalidParameterValue(
            f"Value {max_number} for parameter MaxNumberOfMessages is invalid. Reason: Must "
            "be between 1 and 10, if provided."
        )
    wait = p.integer(params, "WaitTimeSeconds")
    if wait is None:
        wait = queue.receive_wait_time_seconds
    elif not 0 <= wait <= 20:
        raise errors.InvalidParameterValue(
            f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 "
            "and <= 20, if provided."
        )
    call.summary.update(max=max_number, wait=wait)
    return ReceiveRequest(
        queue=queue,
        max_number=max_number,
        visibility=p.integer(params, "VisibilityTimeout"),
        wait=wait,
        system=_wanted_system(params),
        message_attributes=p.string_list(params, "MessageAttributeNames"),
        attempt_id=p.string(params, "ReceiveRequestAttemptId"),
    )


def receive_message(call: Call, request: ReceiveRequest) -> dict:
    """One try: whatever is visible now (possibly nothing)."""
    received = sqs.receive_messages(
        request.queue,
        max_number=request.max_number,
        visibility=request.visibility,
        receiver=call.actor,
        attempt_id=request.attempt_id,
        long_poll=request.wait > 0,
        clock=call.clock,
    )
    if not received:
        return {}
    messages = []
    for r in received:
        message = {
            "MessageId": r.message_id,
            "ReceiptHandle": r.receipt_handle,
            "MD5OfBody": r.md5_of_body,
            "Body": r.body,
        }
        if request.system:
            everything = "All" in request.system
            attrs = {
                k: v for k, v in r.system_attributes.items() if everything or k in request.system
            }
            if attrs:
                message["Attributes"] = attrs
        attributes = _pick_attributes(r.message_attributes, request.message_attributes)
        if attributes:
            message["MD5OfMessageAttributes"] = message_attributes.md5_of_attributes(attributes)
            message["MessageAttributes"] = attributes
        messages.append(message)
    call.summary["received"] = len(messages)
    return {"Messages": messages}


def receive_message_now(call: Call, params: dict) -> dict:
    return receive_message(call, receive_request(call, params))


def delete_message(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    sqs.delete_message(
        queue, p.string(params, "ReceiptHandle", needed=True), actor=call.actor, clock=call.clock
    )
    return {}


def delete_message_batch(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    raw = p.entries(params)
    _batch_ids(raw, "DeleteMessageBatchRequestEntry")
    entries = [{"Id": e["Id"], "ReceiptHandle": p.string(e, "ReceiptHandle") or ""} for e in raw]
    result = sqs.delete_message_batch(queue, entries, actor=call.actor, clock=call.clock)
    return {"Successful": [{"Id": i} for i in result.successful], "Failed": _failed(result)}


def change_message_visibility(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    sqs.change_message_visibility(
        queue,
        p.string(params, "ReceiptHandle", needed=True),
        p.integer(params, "VisibilityTimeout", needed=True),
        actor=call.actor,
        clock=call.clock,
    )
    return {}


def change_message_visibility_batch(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    raw = p.entries(params)
    _batch_ids(raw, "ChangeMessageVisibilityBatchRequestEntry")
    entries = [
        {
            "Id": e["Id"],
            "ReceiptHandle": p.string(e, "ReceiptHandle") or "",
            "VisibilityTimeout": p.integer(e, "VisibilityTimeout") or 0,
        }
        for e in raw
    ]
    result = sqs.change_message_visibility_batch(queue, entries, actor=call.actor, clock=call.clock)
    return {"Successful": [{"Id": i} for i in result.successful], "Failed": _failed(result)}


def purge_queue(call: Call, params: dict) -> dict:
    sqs.purge_queue(_queue(call, params), clock=call.clock)
    return {}


def tag_queue(call: Call, params: dict) -> dict:
    sqs.tag_queue(_queue(call, params), p.string_map(params, "Tags", needed=True), clock=call.clock)
    return {}


def untag_queue(call: Call, params: dict) -> dict:
    sqs.untag_queue(
        _queue(call, params), p.string_list(params, "TagKeys", needed=True), clock=call.clock
    )
    return {}


def list_queue_tags(call: Call, params: dict) -> dict:
    tags = _queue(call, params).tags
    return {"Tags": dict(tags)} if tags else {}


def list_dead_letter_source_queues(call: Call, params: dict) -> dict:
    queue = _queue(call, params)
    sources, token = sqs.list_dead_letter_source_queues(
        queue,
        max_results=p.integer(params, "MaxResults"),
        next_token=p.string(params, "NextToken"),
    )
    result: dict = {"queueUrls": [call.queue_url(q) for q in sources]}
    if token:
        result["NextToken"] = token
    return result


def add_permission(call: Call, params: dict) -> dict:
    permissions.add_permission(
        _queue(call, params),
        p.string(params, "Label", needed=True),
        p.string_list(params, "AWSAccountIds"),
        p.string_list(params, "Actions"),
        clock=call.clock,
    )
    return {}


def remove_permission(call: Call, params: dict) -> dict:
    permissions.remove_permission(
        _queue(call, params), p.string(params, "Label", needed=True), clock=call.clock
    )
    return {}


def start_message_move_task(call: Call, params: dict) -> dict:
    task = redrive.start_move_task(
        call.workspace,
        p.string(params, "SourceArn", needed=True),
        destination_arn=p.string(params, "DestinationArn"),
        rate=p.integer(params, "MaxNumberOfMessagesPerSecond"),
        clock=call.clock,
    )
    call.queue_name = task.source.name
    return {"TaskHandle": task.handle}


def list_message_move_tasks(call: Call, params: dict) -> dict:
    tasks = redrive.list_move_tasks(
        call.workspace,
        p.string(params, "SourceArn", needed=True),
        max_results=p.integer(params, "MaxResults"),
    )
    results = []
    for task in tasks:
        entry = {
            "Status": task.status,
            "SourceArn": task.source.arn,
            "ApproximateNumberOfMessagesMoved": task.moved,
            "ApproximateNumberOfMessagesToMove": task.to_move,
            "StartedTimestamp": int(task.started_at * 1000),
        }
        if task.status == task.Status.RUNNING:
            entry["TaskHandle"] = task.handle
        if task.destination_arn:
            entry["DestinationArn"] = task.destination_arn
        if task.rate:
            entry["MaxNumberOfMessagesPerSecond"] = task.rate
        if task.failure_reason:
            entry["FailureReason"] = task.failure_reason
        results.append(entry)
    return {"Results": results}


def cancel_message_move_task(call: Call, params: dict) -> dict:
    task = redrive.cancel_move_task(
        call.workspace, p.string(params, "TaskHandle", needed=True), clock=call.clock
    )
    return {"ApproximateNumberOfMessagesMoved": task.moved}


ACTIONS = {
    "CreateQueue": create_queue,
    "GetQueueUrl": get_queue_url,
    "ListQueues": list_queues,
    "DeleteQueue": delete_queue,
    "GetQueueAttributes": get_queue_attributes,
    "SetQueueAttributes": set_queue_attributes,
    "SendMessage": send_message,
    "SendMessageBatch": send_message_batch,
    "ReceiveMessage": receive_message_now,
    "DeleteMessage": delete_message,
    "DeleteMessageBatch": delete_message_batch,
    "ChangeMessageVisibility": change_message_visibility,
    "ChangeMessageVisibilityBatch": change_message_visibility_batch,
    "PurgeQueue": purge_queue,
    "TagQueue": tag_queue,
    "UntagQueue": untag_queue,
    "ListQueueTags": list_queue_tags,
    "ListDeadLetterSourceQueues": list_dead_letter_source_queues,
    "AddPermission": add_permission,
    "RemovePermission": remove_permission,
    "StartMessageMoveTask": start_message_move_task,
    "ListMessageMoveTasks": list_message_move_tasks,
    "CancelMessageMoveTask": cancel_message_move_task,
}
