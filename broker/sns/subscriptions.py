"""SNS subscriptions: Subscribe, confirmation, Unsubscribe, listing and attributes
(sns.md §2).

An `sqs` subscription (the ARN of a queue of the same account), a `lambda` one (a
function's ARN) and an `sms` one (an E.164 number) are confirmed at once, as on AWS.
`http`/`https` (a request inbox of the workspace, or a URL on this machine), `email`
and `email-json` start PendingConfirmation: SNS sends the endpoint a
SubscriptionConfirmation with a token, valid two days, and nothing else reaches it
until ConfirmSubscription (or a GET of its SubscribeURL) presents that token. A
subscription's FilterPolicy is checked as AWS checks it (`filters`) and applied at
each publish; a RedrivePolicy names the SQS queue that gets what cannot be
delivered, and an HTTP/S DeliveryPolicy its retries (`retries`).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import uuid as uuid_module
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from broker import arns, errors, events, sqs
from broker.models import Subscription, Topic
from broker.sns import deliveries, filters, inboxes, retries
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
DELIVERED = {"sqs", "lambda", "http", "https", "email", "email-json", "sms"}
NEEDS_CONFIRMATION = {"http", "https", "email", "email-json"}
TOKEN_VALID_FOR = 2 * 86_400  # seconds: "Confirmation tokens are valid for two days"
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
    except (ValueError, RecursionError):
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
        queue = sqs.queue_by_arn(topic.workspace, endpoint, any_region=True)
        if queue is None:
            raise invalid("SQS endpoint ARN")
        if queue.is_fifo and not topic.is_fifo:
            # AWS's text, its repeated prefix included (sns.md §6).
            raise invalid(
                "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
                "standard SNS topics"
            )
    if protocol in ("http", "https"):
        _check_url(topic, protocol, endpoint)
    if protocol in ("email", "email-json") and (not inboxes.is_email(endpoint) or "/" in endpoint):
        raise invalid("Email address")
    if protocol == "sms" and not inboxes.E164.match(endpoint or ""):
        raise invalid(f"Invalid SMS endpoint: {str(endpoint)[:40]}")
    if protocol == "lambda":
        parsed = arns.parse(endpoint)
        if (
            parsed is None
            or parsed.service != "lambda"
            or parsed.account != topic.workspace.account_id
            or not parsed.resource.startswith("function:")
            or not parsed.resource.removeprefix("function:").removesuffix(":$LATEST")
        ):
            raise invalid("Lambda endpoint ARN")


def _check_url(topic: Topic, protocol: str, endpoint: str) -> None:
    try:
        parts = urlsplit(endpoint or "")
        host = (parts.hostname or "").lower()
    except ValueError:
        raise invalid("Endpoint must match the specified protocol") from None
    if parts.scheme != protocol or not host:
        raise invalid("Endpoint must match the specified protocol")
    if inboxes.request_inbox_name(topic.workspace, endpoint) is not None:
        return
    # Anyone who reaches the API could otherwise make this server call any address.
    if not is_loopback(host):
        raise invalid(
            "Endpoint Reason: the playground delivers to its request inboxes "
            f"(/_aws/inbox/{topic.workspace.account_id}/<name>) and to URLs on this machine "
            "(localhost), not to other hosts"
        )


def is_loopback(host: str) -> bool:
    """localhost, or an IP literal of the loopback network: never a name DNS could move."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@transaction.atomic
def subscribe(
    topic: Topic,
    protocol: str,
    endpoint: str,
    *,
    attributes: dict | None = None,
    base_url: str = "",
    clock,
) -> Subscription:
    """Subscribe an endpoint; the existing subscription if the same one is there (a
    pending one gets its confirmation again).

    Records `subscription.created`. InvalidParameter for an unknown protocol, an endpoint
    that is not one of its kind, and the same endpoint with other attributes.
    `base_url` is the endpoint the caller reached: the confirmation's links point there.
    """
    protocol = (protocol or "").lower()
    if protocol not in PROTOCOLS:
        raise invalid(f"Amazon SNS does not support this protocol string: {protocol[:40]}")
    if protocol not in DELIVERED:
        raise invalid(
            f"Protocol Reason: the playground has no {protocol} endpoints; it delivers to "
            "sqs, lambda, http, https, email, email-json and sms"
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
        if not existing.confirmed:
            _request_confirmation(existing, base_url=base_url, clock=clock)
        return existing
    pending = protocol in NEEDS_CONFIRMATION
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                topic=topic,
                protocol=protocol,
                endpoint=endpoint,
                attributes=checked,
                created_at=clock.now(),
                confirmed=not pending,
                confirmation_authenticated=not pending,
            )
    except IntegrityError:  # the same subscription, made meanwhile
        return Subscription.objects.get(topic=topic, protocol=protocol, endpoint=endpoint)
    events.record(
        topic.workspace,
        "subscription.created",
        subject=events.subject("topic", topic.name),
        data={
            "subscription": str(subscription.uuid),
            "protocol": protocol,
            "endpoint": endpoint,
            "pending": pending,
        },
        clock=clock,
    )
    if pending:
        _request_confirmation(subscription, base_url=base_url, clock=clock)
    return subscription


def _request_confirmation(subscription: Subscription, *, base_url: str, clock) -> None:
    """A fresh token, valid two days, sent to the endpoint in a SubscriptionConfirmation."""
    subscription.token = secrets.token_hex(64)
    subscription.token_expires_at = clock.now() + TOKEN_VALID_FOR
    subscription.save(update_fields=["token", "token_expires_at"])
    _send_control(subscription, "SubscriptionConfirmation", base_url=base_url, clock=clock)


def _send_control(subscription: Subscription, kind: str, *, base_url: str, clock) -> None:
    note = deliveries.Notification(
        topic=subscription.topic,
        message_id=str(uuid_module.uuid4()),
        messages={"default": ""},
        at=clock.now(),
        base_url=base_url,
        type=kind,
    )
    deliveries.deliver_now(subscription, note, clock=clock)


@transaction.atomic
def confirm_subscription(
    topic: Topic, token: str, *, authenticated: bool, authenticate_on_unsubscribe=False, clock
) -> Subscription:
    """ConfirmSubscription, or a GET of the SubscribeURL (`authenticated` False): the
    subscription the token was sent for starts receiving. Confirming again with the
    same token answers the same ARN. InvalidParameter "Invalid token" otherwise."""
    token = str(token or "")
    subscription = (
        Subscription.objects.filter(topic=topic, token=token).first()
        if 0 < len(token) <= 128
        else None
    )
    if subscription is None or (subscription.token_expires_at or 0) < clock.now():
        raise invalid("Token")
    subscription.topic = topic
    if subscription.confirmed:
        return subscription
    subscription.confirmed = True
    subscription.confirmation_authenticated = authenticated
    subscription.authenticate_on_unsubscribe = bool(authenticated and authenticate_on_unsubscribe)
    subscription.save(
        update_fields=["confirmed", "confirmation_authenticated", "authenticate_on_unsubscribe"]
    )
    events.record(
        topic.workspace,
        "subscription.confirmed",
        subject=events.subject("topic", topic.name),
        data={
            "subscription": str(subscription.uuid),
            "protocol": subscription.protocol,
            "endpoint": subscription.endpoint,
            "authenticated": authenticated,
        },
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
def unsubscribe(
    workspace, arn: str, *, authenticated: bool = True, base_url: str = "", clock
) -> None:
    """Remove a subscription (a missing one is no error, as on AWS). An unsigned request
    (the UnsubscribeURL) may not remove one confirmed with AuthenticateOnUnsubscribe.
    An HTTP/S endpoint is told with an UnsubscribeConfirmation."""
    try:
        subscription = get_subscription(workspace, arn)
    except errors.SnsNotFound:
        return
    if subscription.authenticate_on_unsubscribe and not authenticated:
        raise errors.SnsAuthorizationError(
            "Unsubscribe requires authentication: this subscription was confirmed with "
            "AuthenticateOnUnsubscribe"
        )
    topic = subscription.topic
    if subscription.confirmed and subscription.protocol in ("http", "https"):
        _send_control(subscription, "UnsubscribeConfirmation", base_url=base_url, clock=clock)
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
