"""SNS subscriptions: Subscribe, Unsubscribe, listing and attributes (sns.md §2).

This slice delivers to SQS queues only: an `sqs` subscription (the ARN of a queue of
the same account) is confirmed at once, as on AWS. Its FilterPolicy is checked as AWS
checks it (`filters`) and applied at each publish. The other protocols (lambda,
http/https, email, email-json, sms) are the next slices; until then Subscribe refuses
them with a message that says so, rather than keeping a subscription nothing delivers
to.
"""

from __future__ import annotations

import json

from django.db import IntegrityError, transaction

from broker import arns, errors, events, sqs
from broker.models import Subscription, Topic
from broker.sns import filters
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
DELIVERED = {"sqs"}
SETTABLE = {
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
}


def _checked(name: str, value: str, *, attributes: dict, subscribing: bool) -> str:
    """One attribute's value as stored; InvalidParameter with AWS's text otherwise.

    `attributes` are the subscription's others (a FilterPolicy is read with its
    FilterPolicyScope); Subscribe words the reasons "Attributes Reason: …"."""
    reason = "Attributes Reason: " if subscribing else ""
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
    if name in ("DeliveryPolicy", "RedrivePolicy") and value:
        try:
            json.loads(value)
        except ValueError:
            raise invalid(f"{reason}{name}: failed to parse JSON.") from None
    if name == "RedrivePolicy" and value:
        # Subscription dead-letter queues are the next slice: refuse one nothing would use.
        raise invalid(f"{reason}RedrivePolicy: the playground does not redrive deliveries yet")
    return value.lower() if name == "RawMessageDelivery" else value


def _policy(text: str, scope: str, reason: str) -> dict:
    try:
        return filters.parse(text, scope=scope)
    except filters.PolicyError as error:
        raise invalid(f"{reason}FilterPolicy: {error}") from None


def _endpoint_queue(topic: Topic, endpoint: str):
    """The subscribed queue: any queue of the account for a FIFO topic (a standard queue
    gets its messages without their order), a standard one for a standard topic."""
    queue = sqs.queue_by_arn(topic.workspace, endpoint)
    if queue is None:
        raise invalid("SQS endpoint ARN")
    if queue.is_fifo and not topic.is_fifo:
        # AWS's text, its repeated prefix included (sns.md §6).
        raise invalid(
            "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
            "standard SNS topics"
        )
    return queue


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
    _endpoint_queue(topic, endpoint)
    if not isinstance(attributes, dict | type(None)):
        raise invalid("Attributes")
    given = {str(k): str(v) for k, v in (attributes or {}).items()}
    checked = {k: _checked(k, v, attributes=given, subscribing=True) for k, v in given.items()}
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
    return {
        "SubscriptionArn": subscription.arn,
        "TopicArn": topic.arn,
        "Owner": topic.workspace.account_id,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "PendingConfirmation": "false",
        "ConfirmationWasAuthenticated": "true",
        "RawMessageDelivery": "false",
        "SubscriptionPrincipal": arns.account_root(topic.workspace.account_id),
        **subscription.attributes,
    }


@transaction.atomic
def set_subscription_attributes(subscription: Subscription, name: str, value: str, *, clock):
    subscription.attributes[name] = _checked(
        name, value or "", attributes=subscription.attributes, subscribing=False
    )
    subscription.save(update_fields=["attributes"])
    events.record(
        subscription.topic.workspace,
        "subscription.updated",
        subject=events.subject("topic", subscription.topic.name),
        data={"subscription": str(subscription.uuid), "attribute": name},
        clock=clock,
    )
