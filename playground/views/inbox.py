"""An inbox of the workspace: what it received; how a request inbox answers; an SMS
phone's STOP; confirming a subscription from its confirmation message."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from broker import clock as clocks
from broker import errors, selectors, sns
from broker.models import Inbox, InboxMessage
from broker.sns import inboxes
from playground import pages
from playground.pages import common
from playground.pages import inbox as page
from playground.views.access import workspace_or_404
from playground.views.workspace import connection_context

PAGE = "playground/inbox.html"


def _inbox(request, slug, kind, address, *, create=False):
    ws = workspace_or_404(request, slug)
    if kind not in Inbox.Kind.values or (create and not inboxes.is_address(kind, address)):
        raise Http404("No such inbox.")
    box = selectors.inbox(ws, kind, address)
    if box is None and create:
        with transaction.atomic():
            box = inboxes.inbox(ws, kind, address, clock=clocks.for_workspace(ws))
    if box is None:
        raise Http404("No such inbox.")
    return ws, box


def inbox(request, slug, kind, address):
    ws = workspace_or_404(request, slug)
    if kind not in Inbox.Kind.values:
        raise Http404("No such inbox.")
    # An inbox is made when something is first addressed to it; its page may come first.
    box = selectors.inbox(ws, kind, address) or Inbox(workspace=ws, kind=kind, address=address)
    base_url = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        PAGE,
        {
            **connection_context(request, ws),
            **common.clock_context(ws),
            **page.context(ws, box),
            "inbox_url": inboxes.inbox_url(base_url, ws, address) if kind == "http" else "",
            "page": pages.page_param("inbox", f"{kind}:{address}"),
        },
    )


@require_POST
def set_mode(request, slug, kind, address):
    ws, box = _inbox(request, slug, kind, address, create=True)
    error = ""
    try:
        inboxes.set_mode(box, request.POST.get("mode", ""), clock=clocks.for_workspace(ws))
    except errors.AwsError as err:
        error = err.message
    return render(
        request,
        f"{PAGE}#inbox-settings",
        {**page.context(ws, box), "error": error},
        status=422 if error else 200,
    )


@require_POST
def opt_out(request, slug, kind, address):
    """The phone replies STOP (or the learner opts it back in, as OptInPhoneNumber does)."""
    ws, box = _inbox(request, slug, kind, address, create=True)
    if box.kind != Inbox.Kind.SMS:
        raise Http404("Only a phone opts out.")
    sns.set_opted_out(
        ws, box.address, request.POST.get("opted_out") == "true", clock=clocks.for_workspace(ws)
    )
    box.refresh_from_db()
    return render(request, f"{PAGE}#inbox-settings", page.context(ws, box))


@require_POST
def confirm(request, slug, kind, address, pk):
    """Follow a SubscriptionConfirmation's SubscribeURL, as the endpoint's owner would."""
    ws, box = _inbox(request, slug, kind, address)
    message = InboxMessage.objects.filter(inbox=box, pk=pk).first()
    if message is None:
        raise Http404("No such message.")
    error, confirmed = "", None
    topic_arn, token = _confirmation_of(message.body)
    try:
        with transaction.atomic():
            confirmed = sns.confirm_subscription(
                sns.get_topic(ws, topic_arn),
                token,
                authenticated=False,
                clock=clocks.for_workspace(ws),
            )
    except errors.AwsError as err:
        error = err.message
    return render(
        request,
        f"{PAGE}#inbox-messages",
        {**page.context(ws, box), "confirm_error": error, "confirmed": confirmed},
        status=422 if error else 200,
    )


def _confirmation_of(body: str) -> tuple[str, str]:
    """(TopicArn, Token) of a SubscriptionConfirmation: its JSON envelope (HTTP/S,
    email-json) or the SubscribeURL in an email's text."""
    try:
        envelope = json.loads(body) if body.startswith("{") else {}
    except (ValueError, RecursionError):  # a raw body that only looks like JSON
        envelope = {}
    if not isinstance(envelope, dict):
        envelope = {}
    return (
        str(envelope.get("TopicArn") or _topic_in(body)),
        str(envelope.get("Token") or _token_in(body)),
    )


def _query_value(text: str, name: str) -> str:
    link = next((w for w in text.split() if "Action=ConfirmSubscription" in w), "")
    return (parse_qs(urlsplit(link).query).get(name) or [""])[0]


def _token_in(text: str) -> str:
    return _query_value(text, "Token")


def _topic_in(text: str) -> str:
    return _query_value(text, "TopicArn")
