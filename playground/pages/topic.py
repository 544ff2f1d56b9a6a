"""The topic page: its subscriptions (state, filter, dead-letter queue) and what became
of each recent message at each of them."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.urls import reverse

from broker import arns, events, selectors
from broker.models import Event, Inbox, Subscription, Topic, Workspace
from broker.sns import deliveries, inboxes
from playground.pages.common import Update, kind, render


@dataclass(frozen=True)
class SubscriptionRow:
    subscription: Subscription
    label: str  # what it reaches, as a learner names it
    href: str  # its page in the playground, if it has one
    filter_policy: str
    dead_letter_queue: str

    @property
    def uuid(self) -> str:
        return str(self.subscription.uuid)


def _target(workspace: Workspace, s: Subscription, regions) -> tuple[str, str]:
    """(label, href) of a subscription's endpoint; `regions(name)` is the account's
    workspace in another region, or None."""
    slug = workspace.slug
    if s.protocol in ("sqs", "lambda"):
        if s.protocol == "sqs":
            what, name = "queue", arns.queue_name(s.endpoint)
        else:  # a qualifier other than $LATEST stays in the name, as it was subscribed
            what, name = "function", s.endpoint.rsplit(":function:", 1)[-1]
            name = name.removesuffix(":$LATEST")
        parsed = arns.parse(s.endpoint)
        if parsed is not None and parsed.region != workspace.region:
            # SNS delivers across regions: the endpoint is on the account's other canvas.
            there = regions(parsed.region)
            href = reverse(what, args=[there.slug, name]) if there else ""
            return f"{what} {name} in {parsed.region}", href
        return f"{what} {name}", reverse(what, args=[slug, name])
    if s.protocol in ("http", "https"):
        name = inboxes.request_inbox_name(workspace, s.endpoint)
        if name is None:
            return s.endpoint, ""
        return f"request inbox {name}", reverse("inbox", args=[slug, Inbox.Kind.HTTP, name])
    box = Inbox.Kind.SMS if s.protocol == "sms" else Inbox.Kind.EMAIL
    return s.endpoint, reverse("inbox", args=[slug, box, s.endpoint])


def subscription_rows(workspace: Workspace, topic: Topic) -> list[SubscriptionRow]:
    rows = []
    others = None

    def regions(name: str):
        nonlocal others
        if others is None:  # read once, and only for a subscription in another region
            others = {w.region: w for w in selectors.account_regions(workspace)}
        return others.get(name)

    for s in selectors.topic_subscriptions(topic):
        label, href = _target(workspace, s, regions)
        policy = s.attributes.get("FilterPolicy", "")
        if policy:  # checked when it was set: JSON, shown on one line
            policy = json.dumps(json.loads(policy), separators=(", ", ": "))
        dlq = deliveries.dead_letter_queue_arn(s)
        rows.append(SubscriptionRow(s, label, href, policy, arns.queue_name(dlq) if dlq else ""))
    return rows


def context(workspace: Workspace, topic: Topic) -> dict:
    return {
        "workspace": workspace,
        "topic": topic,
        "subscriptions": subscription_rows(workspace, topic),
        "messages": selectors.topic_messages(topic),
    }


def _subscriptions(workspace: Workspace, topic: Topic) -> str:
    return render("topic.html#subscriptions", context(workspace, topic))


def _messages(workspace: Workspace, topic: Topic) -> str:
    return render("topic.html#topic-messages", context(workspace, topic))


def snapshot(workspace: Workspace, name: str, *, now: float) -> list[str]:
    topic = selectors.topic(workspace, name)
    if topic is None:
        return []
    return [_subscriptions(workspace, topic), _messages(workspace, topic)]


def changes(workspace: Workspace, name: str, new: list[Event], *, now: float, update: Update):
    mine = [e for e in new if e.subject == events.subject("topic", name)]
    topic = selectors.topic(workspace, name) if mine else None
    if topic is None:
        return []
    parts = []
    if any(kind(e).about == "subscription" and e.kind.split(".")[1] in STRUCTURE for e in mine):
        parts.append(_subscriptions(workspace, topic))
    if any(e.kind in selectors.DELIVERY_KINDS for e in mine):
        parts.append(_messages(workspace, topic))
    return parts


# Subscription events that change the subscriptions table (the rest are deliveries).
STRUCTURE = {"created", "updated", "deleted", "confirmed"}
