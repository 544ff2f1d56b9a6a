"""AddPermission / RemovePermission: labelled statements in a queue's Policy (sqs.md §10).

The playground stores the policy and returns it as written; it does not evaluate
it (every caller is the workspace's own account). These two actions only edit
the document the way SQS does, so scripts that call them work unchanged.
"""

from __future__ import annotations

import json
import re

from django.db import transaction

from broker import arns, errors, events
from broker.models import Queue

LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_ACTIONS = 7


def _policy(queue: Queue) -> dict:
    if queue.policy.strip():
        try:
            document = json.loads(queue.policy)
        except ValueError:
            document = None
        if isinstance(document, dict):
            document.setdefault("Statement", [])
            return document
    return {"Version": "2012-10-17", "Id": f"{queue.arn}/SQSDefaultPolicy", "Statement": []}


def _invalid_label(label: str, reason: str) -> errors.InvalidParameterValue:
    return errors.InvalidParameterValue(
        f"Value {label} for parameter Label is invalid. Reason: {reason}", field="Label"
    )


@transaction.atomic
def add_permission(
    queue: Queue, label: str, account_ids: list[str], actions: list[str], *, clock
) -> None:
    """Allow `account_ids` the SQS `actions` on this queue, as statement `label`."""
    if not LABEL_RE.match(label or ""):
        raise _invalid_label(
            label,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.",
        )
    if not account_ids:
        raise errors.MissingParameter("The request must contain the parameter AWSAccountIds.")
    if not actions:
        raise errors.MissingParameter("The request must contain the parameter Actions.")
    if len(actions) > MAX_ACTIONS:
        raise errors.OverLimit(
            f"{len(actions)} Actions were found, maximum allowed is {MAX_ACTIONS}."
        )
    document = _policy(queue)
    if any(s.get("Sid") == label for s in document["Statement"]):
        raise _invalid_label(label, "Already exists.")
    principals = [arns.account_root(account) for account in account_ids]
    document["Statement"].append(
        {
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
            "Action": [f"SQS:{a}" for a in actions] if len(actions) > 1 else f"SQS:{actions[0]}",
            "Resource": queue.arn,
        }
    )
    _save(queue, document, clock=clock, change={"permission_added": label})


@transaction.atomic
def remove_permission(queue: Queue, label: str, *, clock) -> None:
    document = _policy(queue)
    kept = [s for s in document["Statement"] if s.get("Sid") != label]
    if len(kept) == len(document["Statement"]):
        raise _invalid_label(label, "can't find label.")
    document["Statement"] = kept
    _save(queue, document if kept else None, clock=clock, change={"permission_removed": label})


def _save(queue: Queue, document: dict | None, *, clock, change: dict) -> None:
    queue.policy = json.dumps(document, separators=(",", ":")) if document else ""
    queue.modified_at = clock.now()
    queue.save(update_fields=["policy", "modified_at"])
    events.record(queue.workspace, "queue.updated", queue=queue.name, data=change, clock=clock)
