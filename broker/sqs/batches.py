"""What every *Batch action shares: at most 10 entries, distinct ids of the allowed
characters, and a result with a success or a failure per entry (sqs.md §5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from broker import errors

MAX_BATCH_ENTRIES = 10


BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


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


def check_batch_ids(ids: list[str], entry_shape: str = "SendMessageBatchRequestEntry") -> None:
    """The request-level rules shared by every *Batch action (sqs.md §4.6); `entry_shape`
    names the action's entries in the answer to an empty batch, as AWS's text does."""
    if not ids:
        raise errors.EmptyBatchRequest(
            f"There should be at least one {entry_shape} in the request."
        )
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
