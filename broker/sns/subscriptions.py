"""SNS subscriptions: Subscribe, Unsubscribe, listing and attributes (sns.md §2).

An `sqs` subscription (the ARN of a queue of the same account) and a `lambda` one (a
function's ARN) are confirmed at once, as on AWS. Their FilterPolicy is checked as
AWS checks it (`filters`) and applied at each publish; a RedrivePolicy names the SQS
queue that gets what cannot be delivered, and an HTTP/S DeliveryPolicy its retries
(`retries`). The other protocols (http/https, email, email-json, sms) are the next
slice; until then Subscribe refuses them with a message that says so, rather than
keeping a subscription nothing delivers to.
"""

from __future__ import annotations

import json

from django.db import IntegrityError, transaction

from broker import arns, errors, events, sqs
from broker.models import Subscription, Topic
from broker.sns import filters, retries
from broker.sns.topics import PAGE, arn_parts, invalid

PROTOCOLS = {
    "sqs",
    "lambda",
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "application",
    "firehose",
}
DELIVERED = {"sqs", "lambda"}
SETTABLE = {
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
}


def _checked(
    name: str,
    value: str,
    *,
    subscription: Subscription | None,
    attributes: dict,
    topic: Topic,
    protocol: str,
) -> str:
    """One attribute's value as stored; InvalidParameter with AWS's text otherwise.

    `attributes` are the subscription's others (a FilterPolicy is read with its
    FilterPolicyScope); Subscribe (no `subscription` yet) words the reasons
    "Attributes Reason: …"."""
    reason = "Attributes Reason: " if subscription is None else ""
    if name not in SETTABLE:
        raise invalid("AttributeName")
    if name == "RawMessageDelivery" and value.lower() not in ("true", "false"):
        raise invalid(
            f"Attributes Reason: RawMessageDelivery: Invalid value [{value[:80]}]. "
            "Must be true or false."
        )
    if name == "FilterPolicyScope":
        if value not in ("MessageAttributes", "MessageBody"):
            raise invalid(
                f"FilterPolicyScope: Invalid value [{value[:80]}]. Please use either "
                "MessageBody or MessageAttributes"
            )
        if attributes.get("FilterPolicy"):
            _policy(attributes["FilterPolicy"], value, reason)
    if name == "FilterPolicy" and value:
        _policy(value, attributes.get("FilterPolicyScope", "MessageAttributes"), reason)
    if name == "DeliveryPolicy" and value:
        if protocol not in retries.HTTP_PROTOCOLS:
            raise invalid(
                f"{reason}DeliveryPolicy: Delivery protocol [{protocol}] does not support "
                "delivery policies"
            )
        try:
            retries.check_subscription_policy(value)
        except retries.PolicyError as error:
            raise invalid(f"{reason}DeliveryPolicy: {error}") from None
    if name == "RedrivePolicy" and value:
        _dead_letter_target(value, topic, reason)
    return value.lower() if name == "RawMessageDelivery" else value


def _dead_letter_target(text: str, topic: Topic, reason: str) -> None:
    """A RedrivePolicy names an SQS queue of the topic's account and region (sns.md §7.4)."""
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid(f"{reason}RedrivePolicy: failed to parse JSON.") from None
    target = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
    parsed = arns.parse(target) if isinstance(target, str) else None
    workspace = topic.workspace
    if (
        parsed is None
        or parsed.service != "sqs"
        or parsed.account != workspace.account_id
        or parsed.region != workspace.region
        or not parsed.resource
    ):
        raise invalid(f"{reason}RedrivePolicy: deadLetterTargetArn is an invalid arn")
    if topic.is_fifo and not parsed.resource.endswith(".fifo"):
        raise invalid(
            f"{reason}RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription "
            "to a FIFO Topic."
        )


def _policy(text: str, scope: str, reason: str) -> dict:
    try:
        return filters.parse(text, scope=scope)
    except filters.PolicyError as error:
        raise invalid(f"{reason}FilterPolicy: {error}") from None


def _check_endpoint(topic: Topic, protocol: str, endpoint: str) -> None:
    """The endpoint is one of its protocol's kind (sns.md §2.1)."""
    if topic.is_fifo and protocol != "sqs":
        raise invalid(
            f"Invalid parameter: Endpoint Reason: FIFO topics deliver only to SQS queues, "
            f"not to {protocol} endpoints"
        )
    if protocol == "sqs":
        queue = sqs.queue_by_arn(topic.workspace, endpoint)
        if queue is None:
            raise invalid("SQS endpoint ARN")
        if queue.is_fifo and not topic.is_fifo:
            # AWS's text, its repeated prefix included (sns.md §6).
            raise invalid(
                "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
                "standard SNS topics"
            )
    if protocol == "lambda":
        parsed = arns.parse(endpoint)
        if (
            parsed is None
            or parsed.service != "lambda"
            or parsed.account != topic.workspace.account_id
            or not parsed.resource.startswith("function:")
        ):
            raise invalid("Lambda endpoint ARN")


@transaction.atomic
def subscribe(
    topic: Topic, protocol: str, endpoint: str, *, attributes: dict | None = None, clock
) -> Subscription:
    """Subscribe an endpoint; the existing subscription if the same one is there.

    Records `subscription.created`. InvalidParameter for an unknown protocol, an endpoint
    that is not one of its kind, and the same endpoint with other attributes.
    """
    protocol = (protocol or "").lower()
    if protocol not in PROTOCOLS:
        raise invalid(f"Amazon SNS does not support this protocol string: {protocol[:40]}")
    if protocol not in DELIVERED:
        raise invalid(
            f"Protocol Reason: the playground does not deliver to {protocol} subscriptions "
            "yet; subscribe an SQS queue (its ARN)"
        )
    _check_endpoint(topic, protocol, endpoint)
    if not isinstance(attributes, dict | type(None)):
        raise invalid("Attributes")
    given = {str(k): str(v) for k, v in (attributes or {}).items()}
    checked = {
        k: _checked(k, v, subscription=None, attributes=given, topic=topic, protocol=protocol)
        for k, v in given.items()
    }
    existing = Subscription.objects.filter(
        topic=topic, protocol=protocol, endpoint=endpoint
    ).first()
    if existing is not None:
        if any(existing.attributes.get(k, _default(k)) != v for k, v in checked.items()):
            raise invalid(
                "Attributes Reason: Subscription already exists with different attributes"
            )
        return existing
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                topic=topic,
                protocol=protocol,
                endpoint=endpoint,
                attributes=checked,
                created_at=clock.now(),
            )
    except IntegrityError:  # the same subscription, made meanwhile
        return Subscription.objects.get(topic=topic, protocol=protocol, endpoint=endpoint)
    events.record(
        topic.workspace,
        "subscription.created",
        subject=events.subject("topic", topic.name),
        data={"subscription": str(subscription.uuid), "protocol": protocol, "endpoint": endpoint},
        clock=clock,
    )
    return subscription


def _default(name: str) -> str:
    return {"RawMessageDelivery": "false"}.get(name, "")


def get_subscription(workspace, arn: str) -> Subscription:
    uuid = arn_parts("SubscriptionArn", arn)[-1]
    subscription = (
        Subscription.objects.filter(topic__workspace=workspace, uuid=uuid)
        .select_related("topic__workspace")
        .first()
        if len(uuid) == 36
        else None
    )
    if subscription is None or subscription.arn != arn:
        raise errors.SnsNotFound("Subscription does not exist")
    return subscription


@transaction.atomic
def unsubscribe(workspace, arn: str, *, clock) -> None:
    """Remove a subscription (a missing one is no error, as on AWS)."""
    try:
        subscription = get_subscription(workspace, arn)
    except errors.SnsNotFound:
        return
    topic = subscription.topic
    data = {"subscription": str(subscription.uuid), "protocol": subscription.protocol}
    subscription.delete()
    events.record(
        workspace,
        "subscription.deleted",
        subject=events.subject("topic", topic.name),
        data=data,
        clock=clock,
    )


def _page(subscriptions, next_token: str) -> tuple[list[Subscription], str]:
    if next_token:
        if not next_token.isdigit():
            raise invalid("NextToken")
        subscriptions = subscriptions.filter(pk__gt=int(next_token))
    page = list(subscriptions.order_by("pk").select_related("topic__workspace")[: PAGE + 1])
    more = len(page) > PAGE
    page = page[:PAGE]
    return page, str(page[-1].pk) if more else ""


def list_subscriptions(workspace, *, next_token: str = ""):
    return _page(Subscription.objects.filter(topic__workspace=workspace), next_token)


def list_subscriptions_by_topic(topic: Topic, *, next_token: str = ""):
    return _page(Subscription.objects.filter(topic=topic), next_token)


def get_subscription_attributes(subscription: Subscription) -> dict[str, str]:
    topic = subscription.topic
    result = {
        "SubscriptionArn": subscription.arn,
        "TopicArn": topic.arn,
        "Owner": topic.workspace.account_id,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "PendingConfirmation": "false" if subscription.confirmed else "true",
        "ConfirmationWasAuthenticated": str(subscription.confirmation_authenticated).lower(),
        "RawMessageDelivery": "false",
        "SubscriptionPrincipal": arns.account_root(topic.workspace.account_id),
        **subscription.attributes,
    }
    if subscription.protocol in retries.HTTP_PROTOCOLS:
        result["EffectiveDeliveryPolicy"] = retries.effective_policy(subscription)
    return result


@transaction.atomic
def set_subscription_attributes(subscription: Subscription, name: str, value: str, *, clock):
    subscription.attributes[name] = _checked(
        name,
        value or "",
        subscription=subscription,
        attributes=subscription.attributes,
        topic=subscription.topic,
        protocol=subscription.protocol,
    )
    subscription.save(update_fields=["attributes"])
    events.record(
        subscription.topic.workspace,
        "subscription.updated",
        subject=events.subject("topic", subscription.topic.name),
        data={"subscription": str(subscription.uuid), "attribute": name},
        clock=clock,
    )
