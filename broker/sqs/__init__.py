"""Amazon SQS: queues, sending, receiving, visibility, deletion, dead-letter queues.

Follows `shared/reference/sqs.md`. Every function takes the workspace clock; none
reads the wall clock. The AWS API (`broker/api/`), the htmx views and the Lambda
pollers all call these functions, and nothing else decides when a message is
visible, who may receive it, or where it goes.

A message's state is derived from two columns and the clock: visible
(`visible_at <= now`), in flight (`visible_at > now` and received at least once) or
delayed (`visible_at > now` and never received).

One module per concept; callers import the package (`from broker import sqs`) and
call `sqs.send_message(...)`, as the AWS docs name the actions:

- `queues`: create, list, delete, tag and purge queues; `lookup`: a queue by name,
  URL or ARN; `attributes`: every queue attribute, its validation and its defaults;
- `send`, `receive`, `visibility` (delete, change visibility, returns when it ends),
  `receipts` (receipt handles), `batches` (the rules every *Batch action shares);
- `fifo` (groups, deduplication, sequence numbers), `retention`, `redrive`
  (dead-letter queues and message move tasks), `tally` (counts at any depth),
  `throughput` (the FIFO call quota), `permissions` (AddPermission), `bulk` (fills),
  `audit` (delivery guarantees checked from the timeline).
"""

from __future__ import annotations

from broker.sqs.attributes import (
    ALL_ATTRIBUTE_NAMES,
    attribute_errors,
    get_queue_attributes,
    set_queue_attributes,
)
from broker.sqs.batches import BatchFailure, BatchResult, check_batch_ids
from broker.sqs.lookup import get_queue, get_queue_by_url, queue_by_arn
from broker.sqs.queues import (
    create_queue,
    delete_queue,
    list_dead_letter_source_queues,
    list_queues,
    purge_queue,
    tag_queue,
    untag_queue,
)
from broker.sqs.receive import (
    FIFO_IN_FLIGHT_LIMIT,
    IN_FLIGHT_LIMIT,
    SYSTEM_ATTRIBUTE_NAMES,
    Peeked,
    Received,
    in_flight_limit,
    next_visible_at,
    peek_messages,
    receivable,
    receive_messages,
)
from broker.sqs.send import (
    MAX_BATCH_BYTES,
    Sent,
    payload_size,
    send_message,
    send_message_batch,
)
from broker.sqs.tally import Counts, counts
from broker.sqs.visibility import (
    announce_returns,
    change_message_visibility,
    change_message_visibility_batch,
    delete_message,
    delete_message_batch,
)

__all__ = [
    "ALL_ATTRIBUTE_NAMES",
    "FIFO_IN_FLIGHT_LIMIT",
    "IN_FLIGHT_LIMIT",
    "MAX_BATCH_BYTES",
    "SYSTEM_ATTRIBUTE_NAMES",
    "BatchFailure",
    "BatchResult",
    "Counts",
    "Peeked",
    "Received",
    "Sent",
    "announce_returns",
    "attribute_errors",
    "change_message_visibility",
    "change_message_visibility_batch",
    "check_batch_ids",
    "counts",
    "create_queue",
    "delete_message",
    "delete_message_batch",
    "delete_queue",
    "get_queue",
    "get_queue_attributes",
    "get_queue_by_url",
    "in_flight_limit",
    "list_dead_letter_source_queues",
    "list_queues",
    "next_visible_at",
    "payload_size",
    "peek_messages",
    "purge_queue",
    "queue_by_arn",
    "receivable",
    "receive_messages",
    "send_message",
    "send_message_batch",
    "set_queue_attributes",
    "tag_queue",
    "untag_queue",
]
