"""AddPermission / RemovePermission: labelled statements in a queue's Policy (sqs.md §10).

The playground stores the policy and returns it as written. Calls of the workspace's
own account are never checked against it (they all come from the owner). What is
evaluated is what AWS makes a common stumbling block: under a workspace's strict rules
an SNS topic may send to a queue only when its Policy lets the `sns.amazonaws.com`
service do `sqs:SendMessage`, usually on the condition that the topic is the source
(`allows_service`); `allow_topic` adds that statement, as the console's Subscribe does.
"""

from __future__ import annotations

import fnmatch
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


SNS_SERVICE = "sns.amazonaws.com"


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return "*" in _listed(principal.get("AWS", [])) or service in _listed(
        principal.get("Service", [])
    )


def _action_matches(actions, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _listed(actions))


def _conditions_hold(conditions, context: dict[str, str], *, deny: bool) -> bool:
    """The condition operators a topic-to-queue statement uses: Arn/String Equals/Like.
    One this playground does not read holds for a Deny and not for an Allow: when in
    doubt, the queue refuses."""
    if not conditions:
        return True
    if not isinstance(conditions, dict):
        return deny
    for operator, tests in conditions.items():
        like = operator.endswith("Like")
        if operator not in ("ArnEquals", "ArnLike", "StringEquals", "StringLike") or not (
            isinstance(tests, dict)
        ):
            return deny
        for key, wanted in tests.items():
            value = context.get(key.lower())
            if value is None or not any(
                fnmatch.fnmatchcase(value, str(w)) if like else value == str(w)
                for w in _listed(wanted)
            ):
                return False
    return True


def allows_service(queue: Queue, service: str, action: str, *, source_arn: str) -> bool:
    """Whether the queue's Policy lets an AWS service do `action` on it for `source_arn`:
    an Allow statement that matches, and no Deny that does."""
    document = _policy(queue) if queue.policy.strip() else {"Statement": []}
    context = {"aws:sourcearn": source_arn, "aws:sourceaccount": queue.workspace.account_id}
    allowed = False
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        deny = statement.get("Effect") == "Deny"
        resources = _listed(statement.get("Resource", "*"))
        if not (
            _principal_matches(statement.get("Principal"), service)
            and _action_matches(statement.get("Action", []), action)
            and any(fnmatch.fnmatchcase(queue.arn, str(r)) for r in resources)
            and _conditions_hold(statement.get("Condition"), context, deny=deny)
        ):
            continue
        if deny:
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def topic_statement_id(topic_arn: str) -> str:
    return "topic-" + re.sub(r"[^A-Za-z0-9_-]", "-", topic_arn.rsplit(":", 1)[-1])[:70]


@transaction.atomic
def allow_topic(queue: Queue, topic_arn: str, *, clock) -> bool:
    """Add the statement that lets the topic send to the queue (what the console adds when
    you subscribe a queue); False when the policy allows it already."""
    if allows_service(queue, SNS_SERVICE, "sqs:SendMessage", source_arn=topic_arn):
        return False
    document = _policy(queue)
    document["Statement"].append(
        {
            "Sid": topic_statement_id(topic_arn),
            "Effect": "Allow",
            "Principal": {"Service": SNS_SERVICE},
            "Action": "sqs:SendMessage",
            "Resource": queue.arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }
    )
    _save(queue, document, clock=clock, change={"permission_added": topic_statement_id(topic_arn)})
    return True
