"""SNS topics: create (its name rules and idempotency), list, delete, attributes with
AWS's defaults, tags and permissions (sns.md §1, §9).

A topic's settable attributes are stored as given (strings, JSON as text); the
read-only ones (Owner, TopicArn, the subscription counts, EffectiveDeliveryPolicy)
and the defaults (DisplayName, Policy) are added when they are read, as
GetTopicAttributes answers them.
"""

from __future__ import annotations

import json
import re

from django.db import IntegrityError, transaction

from broker import arns, errors, events
from broker.models import Topic
from broker.sns import retries

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
FIFO_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
MAX_TAGS = 50
PAGE = 100
FEEDBACK = {
    f"{protocol}{what}"
    for protocol in ("HTTP", "Firehose", "Lambda", "Application", "SQS")
    for what in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
}
FIFO_ONLY = {"ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope"}
SETTABLE = {
    "DeliveryPolicy",
    "DisplayName",
    "Policy",
    "TracingConfig",
    "KmsMasterKeyId",
    "SignatureVersion",
    *FIFO_ONLY,
    *FEEDBACK,
}
JSON_VALUED = {"DeliveryPolicy", "Policy", "ArchivePolicy"}
CHOICES = {
    "SignatureVersion": ("1", "2"),
    "TracingConfig": ("PassThrough", "Active"),
    "ContentBasedDeduplication": ("true", "false"),
    "FifoThroughputScope": ("Topic", "MessageGroup"),
}
# What AWS answers for a topic whose DeliveryPolicy was never set (sns.md §1.1).
EFFECTIVE_DELIVERY_POLICY = json.dumps(
    {
        "http": {
            "defaultHealthyRetryPolicy": {
                "minDelayTarget": 20,
                "maxDelayTarget": 20,
                "numRetries": 3,
                "numMaxDelayRetries": 0,
                "numNoDelayRetries": 0,
                "numMinDelayRetries": 0,
                "backoffFunction": "linear",
            },
            "disableSubscriptionOverrides": False,
            "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
        }
    },
    separators=(",", ":"),
)
TOPIC_ACTIONS = (
    "GetTopicAttributes",
    "SetTopicAttributes",
    "AddPermission",
    "RemovePermission",
    "DeleteTopic",
    "Subscribe",
    "ListSubscriptionsByTopic",
    "Publish",
)


def invalid(what: str) -> errors.SnsInvalidParameter:
    return errors.SnsInvalidParameter(f"Invalid parameter: {what}")


def default_policy(topic: Topic) -> str:
    """The access policy AWS gives a new topic: the owner account may do everything."""
    account = topic.workspace.account_id
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [f"SNS:{a}" for a in TOPIC_ACTIONS],
                    "Resource": topic.arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                }
            ],
        },
        separators=(",", ":"),
    )


def _checked_value(name: str, value: str, *, fifo: bool) -> str:
    if name not in SETTABLE:
        raise invalid("AttributeName")
    if name in FIFO_ONLY and not fifo:
        raise invalid(f"Attributes Reason: {name} is valid only for FIFO topics")
    if name in CHOICES and value not in CHOICES[name]:
        raise invalid(f"Attributes Reason: {name}: Invalid value [{value[:80]}]")
    if name in JSON_VALUED and value:
        try:
            document = json.loads(value)
        except (ValueError, RecursionError):
            raise invalid(f"Attributes Reason: {name}: failed to parse JSON") from None
        if not isinstance(document, dict):
            raise invalid(f"Attributes Reason: {name}: must be a JSON object")
        if name == "Policy" and not (
            isinstance(document.get("Statement"), list)
            and all(isinstance(st, dict) for st in document["Statement"])
        ):
            raise invalid("Attributes Reason: Policy: Statement must be a list of statements")
    if name == "DeliveryPolicy" and value:
        try:
            retries.check_topic_policy(value)
        except retries.PolicyError as error:
            raise invalid(f"Attributes Reason: DeliveryPolicy: {error}") from None
    if name.endswith("SampleRate") and not (value.isdigit() and 0 <= int(value) <= 100):
        raise invalid(f"Attributes Reason: {name}: must be an integer from 0 to 100")
    if name == "DisplayName" and len(value) > 100:
        raise invalid("DisplayName")
    return value


def _tag_map(tags: list[dict] | dict | None) -> dict[str, str]:
    """Tags as a map; duplicated keys are refused, as SNS refuses them."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    if not isinstance(tags, list | type(None)):
        raise invalid("Tags")
    result: dict[str, str] = {}
    for tag in tags or []:
        if not isinstance(tag, dict):
            raise invalid("Tags")
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        if key in result:
            raise invalid("Duplicated keys are not allowed.")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise invalid("Tags Reason: a key is 1 to 128 characters, a value at most 256")
        result[key] = value
    return result


def create_topic(
    workspace, name: str, *, attributes: dict | None = None, tags=None, clock
) -> Topic:
    """A new topic, or the existing one of that name if its attributes and tags agree.

    Records `topic.created`. InvalidParameter for a bad name, a FIFO name without
    FifoTopic (or the reverse) and a name taken with other attributes or tags.
    """
    if not isinstance(attributes, dict | type(None)):
        raise invalid("Attributes")
    attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
    fifo = attributes.pop("FifoTopic", "false").lower() == "true"
    if fifo and not FIFO_NAME_RE.match(name or ""):
        raise invalid(
            "Fifo Topic names must end with .fifo and must be made up of only uppercase and "
            "lowercase ASCII letters, numbers, underscores, and hyphens, and must be between "
            "1 and 256 characters long."
        )
    if not fifo and not NAME_RE.match(name or ""):
        raise invalid("Topic Name")
    settable = {k: _checked_value(k, v, fifo=fifo) for k, v in attributes.items()}
    tag_map = _tag_map(tags)
    if len(tag_map) > MAX_TAGS:
        raise errors.SnsTagLimitExceeded()
    existing = Topic.objects.filter(workspace=workspace, name=name).first()
    if existing is not None:
        return _same_topic(existing, settable, tag_map if tags else None)
    try:
        with transaction.atomic():
            topic = Topic.objects.create(
                workspace=workspace,
                name=name,
                attributes=settable,
                tags=tag_map,
                created_at=clock.now(),
            )
    except IntegrityError:  # another request created it first
        return _same_topic(Topic.objects.get(workspace=workspace, name=name), settable, None)
    events.record(workspace, "topic.created", subject=events.subject("topic", name), clock=clock)
    return topic


def _same_topic(topic: Topic, attributes: dict, tags: dict | None) -> Topic:
    if any(topic.attributes.get(k, _default(topic, k)) != v for k, v in attributes.items()):
        raise invalid("Attributes Reason: Topic already exists with different attributes")
    if tags is not None and tags != topic.tags:
        raise invalid("Tags Reason: Topic already exists with different tags")
    return topic


def _default(topic: Topic, name: str) -> str:
    if name == "Policy":
        return default_policy(topic)
    return {"DisplayName": "", "ContentBasedDeduplication": "false"}.get(name, "")


def arn_parts(name: str, arn: str) -> list[str]:
    """The colon-separated parts of an ARN parameter; InvalidParameter, worded as SNS words
    it, for fewer than six."""
    parts = (arn or "").split(":")
    if len(parts) < 6:
        raise invalid(f"{name} Reason: An ARN must have at least 6 elements, not {len(parts)}")
    return parts


def get_topic(workspace, arn: str) -> Topic:
    """The workspace's topic an ARN names; InvalidParameter for what is not a topic ARN,
    NotFound for a topic that does not exist."""
    arn_parts("TopicArn", arn)
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "sns" or parsed.region != workspace.region:
        raise invalid("TopicArn")
    topic = (
        Topic.objects.filter(workspace=workspace, name=parsed.resource)
        .select_related("workspace")
        .first()
    )
    if topic is None or parsed.account != workspace.account_id:
        raise errors.SnsNotFound("Topic does not exist")
    return topic


def list_topics(workspace, *, next_token: str = "") -> tuple[list[Topic], str]:
    """A page of the workspace's topics by name, and the token of the next page ("")."""
    topics = Topic.objects.filter(workspace=workspace).select_related("workspace")
    if next_token:
        topics = topics.filter(name__gt=next_token)
    page = list(topics.order_by("name")[: PAGE + 1])
    more = len(page) > PAGE
    page = page[:PAGE]
    return page, page[-1].name if more else ""


@transaction.atomic
def delete_topic(workspace, arn: str, *, clock) -> None:
    """Delete a topic and its subscriptions; a topic that does not exist is no error, as on
    AWS. Records `topic.deleted`."""
    try:
        topic = get_topic(workspace, arn)
    except errors.SnsNotFound:
        return
    name = topic.name
    topic.delete()
    events.record(workspace, "topic.deleted", subject=events.subject("topic", name), clock=clock)


def get_topic_attributes(topic: Topic) -> dict[str, str]:
    """Every attribute GetTopicAttributes answers, AWS's defaults included."""
    result = {
        "TopicArn": topic.arn,
        "Owner": topic.workspace.account_id,
        "DisplayName": "",
        "Policy": default_policy(topic),
        "SubscriptionsConfirmed": str(topic.subscriptions.filter(confirmed=True).count()),
        "SubscriptionsPending": str(topic.subscriptions.filter(confirmed=False).count()),
        "SubscriptionsDeleted": "0",
        "EffectiveDeliveryPolicy": EFFECTIVE_DELIVERY_POLICY,
    }
    if topic.is_fifo:
        result.update(FifoTopic="true", ContentBasedDeduplication="false")
    result.update(topic.attributes)
    if "DeliveryPolicy" in topic.attributes:
        result["EffectiveDeliveryPolicy"] = topic.attributes["DeliveryPolicy"]
    return result


@transaction.atomic
def set_topic_attributes(topic: Topic, name: str, value: str, *, clock) -> Topic:
    """Set one attribute (SNS sets one a call). Records `topic.updated`."""
    topic.attributes[name] = _checked_value(name, value or "", fifo=topic.is_fifo)
    topic.save(update_fields=["attributes"])
    _updated(topic, {"attribute": name}, clock=clock)
    return topic


def _updated(topic: Topic, data: dict, *, clock) -> None:
    events.record(
        topic.workspace,
        "topic.updated",
        subject=events.subject("topic", topic.name),
        data=data,
        clock=clock,
    )


def _tagged_topic(workspace, arn: str) -> Topic:
    """The topic a tagging call names: ResourceNotFound where the topic is missing."""
    try:
        return get_topic(workspace, arn)
    except errors.SnsNotFound:
        raise errors.SnsResourceNotFound() from None


@transaction.atomic
def tag_resource(workspace, arn: str, tags, *, clock) -> None:
    topic = _tagged_topic(workspace, arn)
    merged = {**topic.tags, **_tag_map(tags)}
    if len(merged) > MAX_TAGS:
        raise errors.SnsTagLimitExceeded()
    topic.tags = merged
    topic.save(update_fields=["tags"])
    _updated(topic, {"tags": sorted(merged)}, clock=clock)


@transaction.atomic
def untag_resource(workspace, arn: str, keys: list[str], *, clock) -> None:
    topic = _tagged_topic(workspace, arn)
    topic.tags = {k: v for k, v in topic.tags.items() if k not in set(keys)}
    topic.save(update_fields=["tags"])
    _updated(topic, {"tags": sorted(topic.tags)}, clock=clock)


def list_tags_for_resource(workspace, arn: str) -> dict[str, str]:
    return dict(_tagged_topic(workspace, arn).tags)


def _policy(topic: Topic) -> dict:
    return json.loads(topic.attributes.get("Policy") or default_policy(topic))


@transaction.atomic
def add_permission(
    topic: Topic, label: str, account_ids: list[str], actions: list[str], *, clock
) -> None:
    """A labelled statement in the topic's Policy letting accounts call actions (sns.md §9)."""
    if not label or not account_ids or not actions:
        raise invalid("Label, AWSAccountId and ActionName are required")
    if any(a not in TOPIC_ACTIONS for a in actions):
        raise invalid("Policy statement action out of service scope!")
    policy = _policy(topic)
    if any(s.get("Sid") == label for s in policy["Statement"]):
        raise invalid("Statement already exists")
    policy["Statement"].append(
        {
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": [arns.account_root(a) for a in account_ids]},
            "Action": [f"SNS:{a}" for a in actions],
            "Resource": topic.arn,
        }
    )
    topic.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
    topic.save(update_fields=["attributes"])
    _updated(topic, {"attribute": "Policy", "added": label}, clock=clock)


@transaction.atomic
def remove_permission(topic: Topic, label: str, *, clock) -> None:
    """Drop the statement of that label; an unknown label changes nothing (UNCONFIRMED:
    the reference does not say what AWS answers)."""
    policy = _policy(topic)
    kept = [s for s in policy["Statement"] if s.get("Sid") != label]
    if len(kept) == len(policy["Statement"]):
        return
    policy["Statement"] = kept
    topic.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
    topic.save(update_fields=["attributes"])
    _updated(topic, {"attribute": "Policy", "removed": label}, clock=clock)
