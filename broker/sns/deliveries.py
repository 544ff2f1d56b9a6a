"""Handing a published message to one subscription, and what happens when that fails
(sns.md §3, §7).

Publish tries each subscription at once (`deliver_now`). An attempt that fails on the
endpoint's side (a throttled KMS key, an HTTP 5xx or timeout) is retried under the
subscription's retry policy (`retries`): a `Delivery` row waits for its simulated
time, the ticker queues `tasks.attempt_delivery` when it comes, and `attempt` tries
again. A client-side failure (the queue or function is gone, the key is disabled) is
not retried. A notification out of attempts goes to the subscription's dead-letter
queue (RedrivePolicy) or, without one, is discarded. Every step is an event, so a
learner sees "attempt 2 of 4 failed: next at 12:00:20" and where the message ended.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from broker import arns, costs, errors, events, sqs, tasks, workspaces
from broker import clock as clocks
from broker.lambdas import invocations
from broker.models import Delivery, Function, Inbox, Subscription, Topic
from broker.sns import encryption, envelopes, inboxes, retries
from broker.sqs import permissions

# A queued attempt that has not run within this many wall seconds is queued again.
REQUEST_STALE_AFTER = 30.0


@dataclass
class Notification:
    """One published message as every subscription's delivery reads it."""

    topic: Topic
    message_id: str
    messages: dict[str, str]  # "default" and, with MessageStructure=json, per protocol
    at: float  # simulated time of the publish
    base_url: str  # the endpoint the publisher called: SigningCertURL and UnsubscribeURL
    subject: str | None = None
    attributes: dict = field(default_factory=dict)  # validated; Binary values as bytes
    structured: bool = False
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence_number: str | None = None
    # Notification, or SubscriptionConfirmation / UnsubscribeConfirmation (sns.md §3.2)
    type: str = "Notification"
    # A KMS-encrypted topic's data key for this publish (plain, wrapped): what is kept
    # for a retry is sealed with it.
    sealing: tuple[bytes, str] | None = None
    # Signatures made for this notification: its copies share one (`envelopes`).
    signatures: dict = field(default_factory=dict, repr=False, compare=False)
    # The subscribed queues by ARN, read once for the whole publish (None: look each up).
    queues: dict | None = field(default=None, repr=False, compare=False)

    def message_for(self, protocol: str) -> str:
        return self.messages.get(protocol, self.messages["default"])

    @property
    def delivered_attributes(self) -> dict:
        """Attributes travel only with a plain message, not with MessageStructure=json."""
        return {} if self.structured else self.attributes

    def to_payload(self) -> dict:
        content = {
            "messages": self.messages,
            "subject": self.subject,
            "attributes": _envelope_attributes(self.attributes),
        }
        if self.sealing is not None:
            content = encryption.seal(content, self.sealing, self.message_id)
        return {
            "message_id": self.message_id,
            "at": self.at,
            "base_url": self.base_url,
            "structured": self.structured,
            "group_id": self.group_id,
            "deduplication_id": self.deduplication_id,
            "sequence_number": self.sequence_number,
            "type": self.type,
            **content,
        }

    @classmethod
    def from_payload(cls, topic: Topic, payload: dict) -> Notification:
        """The notification a Delivery row keeps; KmsFailure when its sealed content
        cannot be opened (the topic's key is disabled or gone)."""
        payload = dict(payload)
        if "sealed" in payload:
            content = encryption.open_sealed(payload, payload["message_id"])
            del payload["sealed"], payload["wrapped"]
            payload.update(content)
        attributes = {
            name: (
                {"DataType": v["DataType"], "BinaryValue": base64.b64decode(v["BinaryValue"])}
                if "BinaryValue" in v
                else v
            )
            for name, v in payload["attributes"].items()
        }
        return cls(topic=topic, **{**payload, "attributes": attributes})

    def envelope(self, subscription: Subscription, protocol: str | None = None) -> dict:
        if self.type != "Notification":
            return envelopes.confirmation(
                self.type,
                self.topic,
                subscription,
                message_id=self.message_id,
                at=self.at,
                base_url=self.base_url,
            )
        return envelopes.notification(
            self.topic,
            subscription,
            message_id=self.message_id,
            message=self.message_for(protocol or subscription.protocol),
            subject=self.subject,
            attributes=_envelope_attributes(self.delivered_attributes),
            at=self.at,
            base_url=self.base_url,
            sequence_number=self.sequence_number,
            signatures=self.signatures,
        )


def _envelope_attributes(attributes: dict) -> dict:
    """Binary values travel base64-encoded in the envelope, as SNS writes them."""
    return {
        name: (
            {"DataType": v["DataType"], "BinaryValue": base64.b64encode(v["BinaryValue"]).decode()}
            if isinstance(v.get("BinaryValue"), bytes)
            else v
        )
        for name, v in attributes.items()
    }


class Failure(Exception):
    """An attempt that did not deliver: AWS's error code, the reason, whether SNS
    retries it (server-side) or not (client-side), and the simulated seconds the
    attempt itself took (an endpoint that never answers holds it 15 s)."""

    def __init__(self, code: str, reason: str, *, retriable: bool, waited: float = 0.0):
        super().__init__(reason)
        self.code, self.reason, self.retriable, self.waited = code, reason, retriable, waited


def _raw(subscription: Subscription) -> bool:
    return subscription.attributes.get("RawMessageDelivery") == "true"


def _to_queue(queue, subscription: Subscription, note: Notification, *, clock) -> None:
    """Send the copy to an SQS queue; under strict rules only a queue whose Policy lets
    the topic send to it takes it (AccessDenied otherwise, as on AWS)."""
    if queue.workspace.aws_strict and not permissions.allows_service(
        queue, permissions.SNS_SERVICE, "sqs:SendMessage", source_arn=note.topic.arn
    ):
        raise errors.AccessDenied(
            f"The access policy of queue {queue.name} does not let {permissions.SNS_SERVICE} "
            f"send it messages from {note.topic.arn}. Add a statement that allows "
            "sqs:SendMessage on the condition aws:SourceArn = the topic (the console's "
            "Subscribe offers to), or switch the workspace to relaxed rules."
        )
    if _raw(subscription):
        body, attributes = note.message_for("sqs"), note.delivered_attributes
    else:
        body, attributes = json.dumps(note.envelope(subscription, "sqs"), indent=2), {}
    sqs.send_message(
        queue,
        body=body,
        attributes=attributes,
        group_id=note.group_id if queue.is_fifo else None,
        deduplication_id=note.deduplication_id if queue.is_fifo else None,
        sender=f"sns:{note.topic.name}",
        clock=clock,
    )


def _queue_failure(error: errors.AwsError) -> Failure:
    # Throttling is the endpoint being busy: SNS tries again. Everything else a queue
    # answers (it is gone, its key is disabled or denies SNS) is the subscriber's to fix.
    return Failure(
        error.wire_query_code,
        error.message,
        retriable=isinstance(error, errors.KmsThrottled),
    )


def _send_sqs(subscription: Subscription, note: Notification, *, clock) -> None:
    queue = (
        note.queues.get(subscription.endpoint)
        if note.queues is not None
        else sqs.queue_by_arn(note.topic.workspace, subscription.endpoint, any_region=True)
    )
    if queue is None:
        raise Failure(
            "AWS.SimpleQueueService.NonExistentQueue",
            f"The queue {subscription.endpoint} does not exist.",
            retriable=False,
        )
    try:
        _to_queue(queue, subscription, note, clock=_clock_of(queue.workspace, note, clock))
    except errors.AwsError as error:
        raise _queue_failure(error) from None


def _clock_of(workspace, note: Notification, clock):
    """The clock of the region the copy lands in: its own, when that is not the topic's."""
    return clock if workspace.pk == note.topic.workspace_id else clocks.for_workspace(workspace)


def function_by_arn(workspace, arn: str) -> Function | None:
    """The account's function a Lambda function ARN names ($LATEST or unqualified), in
    the workspace's region or another: SNS invokes functions across regions."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "lambda" or parsed.account != workspace.account_id:
        return None
    kind, _, name = parsed.resource.partition(":")
    name = name.removesuffix(":$LATEST")
    if kind != "function" or not name:
        return None
    where = workspaces.arn_scope(workspace, parsed)
    return Function.objects.filter(name=name, **where).select_related("workspace").first()


def lambda_event(subscription: Subscription, note: Notification) -> dict:
    """The event Lambda hands a function subscribed to a topic (sns.md §3.4): one record,
    Subject null when absent, MessageAttributes always there, the URLs spelled `Url`."""
    envelope = note.envelope(subscription, "lambda")
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": note.message_id,
                    "TopicArn": note.topic.arn,
                    "Subject": note.subject,
                    "Message": envelope["Message"],
                    "Timestamp": envelope["Timestamp"],
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""),
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": envelope["UnsubscribeURL"],
                    "MessageAttributes": {
                        name: {
                            "Type": "String"
                            if value["Type"].split(".")[0] in ("Number", "String")
                            else value["Type"],
                            "Value": value["Value"],
                        }
                        for name, value in envelope.get("MessageAttributes", {}).items()
                    },
                },
            }
        ]
    }


def _send_lambda(subscription: Subscription, note: Notification, *, clock) -> None:
    function = function_by_arn(note.topic.workspace, subscription.endpoint)
    if function is None:
        raise Failure(
            "ResourceNotFoundException",
            f"Function not found: {subscription.endpoint}",
            retriable=False,
        )
    # SNS invokes asynchronously: the delivery succeeds once Lambda has the event.
    invocations.start_event_invocation(
        function,
        lambda_event(subscription, note),
        source=f"sns:{note.topic.name}",
        clock=_clock_of(function.workspace, note, clock),
    )


def http_request(subscription: Subscription, note: Notification) -> tuple[dict, str]:
    """The headers and body SNS POSTs to an HTTP/S endpoint (sns.md §3.3)."""
    raw = _raw(subscription) and note.type == "Notification"
    headers = {
        "x-amz-sns-message-type": note.type,
        "x-amz-sns-message-id": note.message_id,
        "x-amz-sns-topic-arn": note.topic.arn,
    }
    if note.type != "SubscriptionConfirmation":
        headers["x-amz-sns-subscription-arn"] = subscription.arn
    if raw:
        headers["x-amz-sns-rawdelivery"] = "true"
    headers["Content-Type"] = retries.content_type(subscription)
    headers["User-Agent"] = "Amazon Simple Notification Service Agent"
    body = (
        note.message_for(subscription.protocol)
        if raw
        else json.dumps(note.envelope(subscription), indent=2)
    )
    return headers, body


def _send_to_request_inbox(
    subscription: Subscription, note: Notification, *, clock
) -> Failure | None:
    workspace = note.topic.workspace
    name = inboxes.request_inbox_name(workspace, subscription.endpoint)
    box = inboxes.inbox(workspace, Inbox.Kind.HTTP, name, clock=clock)
    status = {"ok": 200, "error": 500, "timeout": None}[box.mode]
    headers, body = http_request(subscription, note)
    inboxes.receive(
        box,
        message_type=note.type,
        message_id=note.message_id,
        headers=headers,
        body=body,
        status=status,
        topic=note.topic.name,
        clock=clock,
    )
    if status is None:
        return Failure(
            "Timeout",
            f"{subscription.endpoint} did not answer within {retries.HTTP_TIMEOUT:g} seconds",
            retriable=True,
            waited=retries.HTTP_TIMEOUT,
        )
    if status >= 500:
        return Failure("HTTP 500", f"{subscription.endpoint} answered HTTP 500", retriable=True)
    return None


def is_network(subscription: Subscription) -> bool:
    """An HTTP/S endpoint outside the workspace: delivered by a worker, not in a publish."""
    return subscription.protocol in retries.HTTP_PROTOCOLS and (
        inboxes.request_inbox_name(subscription.topic.workspace, subscription.endpoint) is None
    )


def post(subscription: Subscription, note: Notification) -> Failure | None:
    """POST to a real HTTP/S endpoint, outside any transaction: any answer from 200 to
    499 delivers, a 5xx, a refused connection or 15 s without an answer does not."""
    headers, body = http_request(subscription, note)
    costs.sns_delivery(subscription.topic.workspace_id, subscription.protocol)
    return post_request(subscription.endpoint, headers, body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the endpoint's answer (3xx: delivered), never a request elsewhere:
    following it would let a loopback endpoint send this server to any address."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post_request(url: str, headers: dict, body: str) -> Failure | None:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=retries.HTTP_TIMEOUT) as response:
            response.read(65_536)
    except urllib.error.HTTPError as error:
        if error.code < 500:
            return None
        return Failure(
            f"HTTP {error.code}",
            f"{url} answered HTTP {error.code}",
            retriable=True,
        )
    except (OSError, ValueError) as error:  # refused, unreachable, timed out, bad URL
        reason = getattr(error, "reason", None) or error
        return Failure(
            "Unreachable",
            f"{url} could not be reached: {str(reason)[:200]}",
            retriable=True,
        )
    return None


def _send_email(subscription: Subscription, note: Notification, *, clock) -> None:
    box = inboxes.inbox(note.topic.workspace, Inbox.Kind.EMAIL, subscription.endpoint, clock=clock)
    if subscription.protocol == "email-json":
        body = json.dumps(note.envelope(subscription), indent=2)
    elif note.type == "Notification":
        body = note.message_for("email")
    else:
        envelope = note.envelope(subscription)
        body = f"{envelope['Message']}\n\n{envelope['SubscribeURL']}"
    subject = {
        "SubscriptionConfirmation": "AWS Notification - Subscription Confirmation",
        "UnsubscribeConfirmation": "AWS Notification - Unsubscribe Confirmation",
    }.get(note.type, note.subject or "AWS Notification Message")
    inboxes.receive(
        box,
        message_type=note.type,
        message_id=note.message_id,
        subject=subject,
        body=body,
        topic=note.topic.name,
        clock=clock,
    )


def _send_sms(subscription: Subscription, note: Notification, *, clock) -> None:
    send_text(note.topic.workspace, subscription.endpoint, note, clock=clock)


def send_text(workspace, number: str, note: Notification, *, clock) -> None:
    """An SMS to a phone's inbox; a phone that opted out gets nothing (a client error)."""
    box = inboxes.inbox(workspace, Inbox.Kind.SMS, number, clock=clock)
    if box.opted_out:
        raise Failure(
            "OptedOut", f"{number} has opted out of SMS (it replied STOP)", retriable=False
        )
    inboxes.receive(
        box,
        message_type=note.type,
        message_id=note.message_id,
        body=note.message_for("sms"),
        topic=note.topic.name if note.topic is not None else "",
        clock=clock,
    )


SENDERS = {
    "sqs": _send_sqs,
    "lambda": _send_lambda,
    "http": _send_to_request_inbox,
    "https": _send_to_request_inbox,
    "email": _send_email,
    "email-json": _send_email,
    "sms": _send_sms,
}


def _send(subscription: Subscription, note: Notification, *, clock) -> None:
    """One attempt, in a savepoint of its own. A sender raises a Failure to undo what
    it wrote (a queue that refused), or returns one to keep it: a request inbox keeps
    the request it answered with a 500."""
    costs.sns_delivery(subscription.topic.workspace_id, subscription.protocol)
    with transaction.atomic():
        failure = SENDERS[subscription.protocol](subscription, note, clock=clock)
    if failure is not None:
        raise failure


def _throttle_slot(subscription: Subscription, *, clock) -> float:
    """When a delivery to this subscription may go, its slot taken: at once, unless an
    HTTP/S throttlePolicy's maxReceivesPerSecond spaces deliveries 1/rate seconds apart."""
    now = clock.now()
    rate = retries.max_receives_per_second(subscription)
    if rate is None:
        return now
    slot = max(now, subscription.throttled_until)
    subscription.throttled_until = slot + 1 / rate
    Subscription.objects.filter(pk=subscription.pk).update(
        throttled_until=subscription.throttled_until
    )
    return slot


def deliver_now(subscription: Subscription, note: Notification, *, clock) -> str:
    """The first attempt, made while publishing: "delivered", "failed" (recorded, and
    retried or ended by `_failed`), or "queued" for a worker (a real HTTP endpoint)."""
    if is_network(subscription) and note.type == "UnsubscribeConfirmation":
        # The subscription and its deliveries are deleted with this transaction: the
        # notice goes once, by a worker, after it commits.
        headers, body = http_request(subscription, note)
        tasks.post_notice.delay_on_commit(subscription.endpoint, headers, body)
        return "queued"
    # Only notifications count against a throttle: a confirmation goes at once.
    slot = _throttle_slot(subscription, clock=clock) if note.type == "Notification" else clock.now()
    if is_network(subscription) or slot > clock.now():
        Delivery.objects.create(
            workspace_id=note.topic.workspace_id,
            subscription=subscription,
            message_id=note.message_id,
            payload=note.to_payload(),
            next_at=slot,
        )
        return "queued"
    try:
        _send(subscription, note, clock=clock)
    except Failure as failure:
        _failed(subscription, note, attempts=1, failure=failure, clock=clock)
        return "failed"
    return "delivered"


def _event(subscription: Subscription, kind: str, message_id: str, *, clock, **data) -> None:
    topic = subscription.topic
    events.record(
        topic.workspace,
        f"subscription.{kind}",
        subject=events.subject("topic", topic.name),
        data={
            "subscription": str(subscription.uuid),
            "protocol": subscription.protocol,
            "endpoint": subscription.endpoint,
            "message_id": message_id,
            **data,
        },
        clock=clock,
    )


def _failed(
    subscription: Subscription,
    note: Notification,
    *,
    attempts: int,
    failure: Failure,
    clock,
    delivery: Delivery | None = None,
) -> None:
    """Record a failed attempt; keep the delivery for its next retry, or end it."""
    policy = retries.policy_for(subscription)
    delay = policy.delay_before(attempts) if failure.retriable else None
    now = clock.now()
    next_at = None if delay is None else now + failure.waited + delay
    _event(
        subscription,
        "delivery_failed",
        note.message_id,
        clock=clock,
        attempt=attempts,
        attempts=policy.attempts,
        error=failure.code,
        reason=failure.reason,
        retriable=failure.retriable,
        next_at=next_at,
    )
    if next_at is not None:
        if delivery is None:
            Delivery.objects.create(
                workspace_id=note.topic.workspace_id,
                subscription=subscription,
                message_id=note.message_id,
                payload=note.to_payload(),
                attempts=attempts,
                next_at=next_at,
                last_error=failure.reason[:2000],
            )
        else:
            Delivery.objects.filter(pk=delivery.pk).update(
                attempts=attempts,
                next_at=next_at,
                last_error=failure.reason[:2000],
                requested_at=None,
            )
        return
    if delivery is not None:
        delivery.delete()
    why = (
        failure.reason
        if not failure.retriable
        else f"all {policy.attempts} attempts failed; the last: {failure.reason}"
    )
    _dead_letter(subscription, note, why=why, clock=clock)


def dead_letter_queue_arn(subscription: Subscription) -> str:
    text = subscription.attributes.get("RedrivePolicy") or ""
    try:
        policy = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return ""
    return str(policy.get("deadLetterTargetArn") or "") if isinstance(policy, dict) else ""


def _dead_letter(subscription: Subscription, note: Notification, *, why: str, clock) -> None:
    """Send what SNS could not deliver to the subscription's DLQ (sns.md §7.4): the
    envelope, or with raw delivery the message and its attributes; else discard it."""
    target = dead_letter_queue_arn(subscription)
    if not target or note.type != "Notification":  # a lost confirmation is not redriven
        _event(subscription, "discarded", note.message_id, clock=clock, reason=why)
        return
    queue = sqs.queue_by_arn(note.topic.workspace, target)
    if queue is None:
        _event(
            subscription,
            "discarded",
            note.message_id,
            clock=clock,
            reason=f"{why}; its dead-letter queue {target} does not exist",
        )
        return
    try:
        with transaction.atomic():
            _to_queue(queue, subscription, note, clock=clock)
    except errors.AwsError as error:
        _event(
            subscription,
            "discarded",
            note.message_id,
            clock=clock,
            reason=f"{why}; its dead-letter queue {queue.name} refused it: {error.message}",
        )
        return
    _event(
        subscription, "dead_lettered", note.message_id, clock=clock, queue=queue.name, reason=why
    )


def attempt(delivery_pk: int, *, clock_for) -> bool:
    """Try one delivery whose time has come (`tasks.attempt_delivery`); whether it
    delivered. `clock_for(workspace)` gives the workspace's clock. A real HTTP
    endpoint is called outside any transaction; the outcome is then written in one. A
    delivery whose subscription was deleted is gone with it; one not due yet is left
    alone."""
    delivery = (
        Delivery.objects.select_related("subscription__topic__workspace")
        .filter(pk=delivery_pk)
        .first()
    )
    if delivery is None:
        return False
    subscription = delivery.subscription
    if clock_for(subscription.topic.workspace).now() < delivery.next_at:
        Delivery.objects.filter(pk=delivery.pk).update(requested_at=None)
        return False
    try:
        note = Notification.from_payload(subscription.topic, delivery.payload)
    except errors.KmsThrottled:  # KMS is busy: the sealed message waits a second more
        clock = clock_for(subscription.topic.workspace)
        Delivery.objects.filter(pk=delivery.pk).update(next_at=clock.now() + 1, requested_at=None)
        return False
    except errors.KmsFailure as error:
        _unopenable(delivery, error, clock=clock_for(subscription.topic.workspace))
        return False
    failure = post(subscription, note) if is_network(subscription) else None
    with transaction.atomic():
        # Unsubscribed meanwhile, or attempted by another worker: nothing more to do.
        locked = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery.pk, attempts=delivery.attempts)
            .first()
        )
        if locked is None:
            return False
        clock = clock_for(subscription.topic.workspace)
        if not is_network(subscription):
            try:
                _send(subscription, note, clock=clock)
            except Failure as error:
                failure = error
        attempts = delivery.attempts + 1
        if failure is not None:
            _failed(
                subscription,
                note,
                attempts=attempts,
                failure=failure,
                clock=clock,
                delivery=delivery,
            )
            return False
        delivery.delete()
        _event(subscription, "delivered", note.message_id, clock=clock, attempt=attempts)
        return True


@transaction.atomic
def _unopenable(delivery: Delivery, error: errors.KmsFailure, *, clock) -> None:
    """A retry whose sealed message KMS will not open: discarded, since nobody can read it."""
    if not Delivery.objects.filter(pk=delivery.pk).delete()[0]:
        return
    _event(
        delivery.subscription,
        "discarded",
        delivery.message_id,
        clock=clock,
        reason=f"the topic's KMS key cannot open the message for a retry: {error.message}",
    )


def claim_due(workspace, *, clock, wall_now: float | None = None, limit: int = 200) -> list[int]:
    """Ids of the workspace's deliveries due for an attempt and not queued yet (or
    queued more than REQUEST_STALE_AFTER wall seconds ago), each marked with a
    conditional UPDATE so it is queued once. The caller queues the attempts."""
    wall_now = time.time() if wall_now is None else wall_now
    unclaimed = Q(requested_at__isnull=True) | Q(requested_at__lt=wall_now - REQUEST_STALE_AFTER)
    due = list(
        Delivery.objects.filter(workspace=workspace, next_at__lte=clock.now())
        .filter(unclaimed)
        .order_by("next_at")
        .values_list("pk", flat=True)[:limit]
    )
    return [
        pk
        for pk in due
        if Delivery.objects.filter(pk=pk).filter(unclaimed).update(requested_at=wall_now)
    ]


def next_due(workspace) -> float | None:
    """The simulated instant of the workspace's next delivery attempt, or None."""
    return (
        Delivery.objects.filter(workspace=workspace)
        .order_by("next_at")
        .values_list("next_at", flat=True)
        .first()
    )
