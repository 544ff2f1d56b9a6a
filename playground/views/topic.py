"""One SNS topic: publish, subscribe, filter policies, and each message's deliveries."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from broker import arns, errors, selectors, sns, sqs
from broker import clock as clocks
from broker.sns import deliveries, filters, inboxes
from broker.sqs import permissions
from playground import forms, pages
from playground.pages import common
from playground.pages import topic as page
from playground.views.access import workspace_or_404
from playground.views.workspace import connection_context, create_card, redirect_to_workspace

PAGE = "playground/topic.html"


def _topic(request, slug, name):
    ws = workspace_or_404(request, slug)
    topic = selectors.topic(ws, name)
    if topic is None:
        raise Http404("No such topic.")
    return ws, topic


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def topic(request, slug, name):
    ws, t = _topic(request, slug, name)
    return render(
        request,
        PAGE,
        {
            **connection_context(request, ws),
            **common.clock_context(ws),
            **page.context(ws, t),
            "publish_form": forms.PublishForm(fifo=t.is_fifo),
            "subscribe_form": _subscribe_form(ws),
            "settings_form": _settings_form(t),
            "page": pages.page_param("topic", t.name),
        },
    )


@require_POST
def create_topic(request, slug):
    ws = workspace_or_404(request, slug)
    form = forms.CreateTopicForm(request.POST)

    def create(data) -> str:
        t = sns.create_topic(
            ws, data["name"], attributes=form.attributes(), clock=clocks.for_workspace(ws)
        )
        return f"Topic {t.name} is ready."

    # SNS's refusals name no field: they are about the name.
    return create_card(request, ws, form, kind="topic", create=create, field_map={None: "name"})


@require_POST
def publish(request, slug, name):
    ws, t = _topic(request, slug, name)
    form = forms.PublishForm(request.POST, fifo=t.is_fifo)
    published = None
    if form.is_valid():
        try:
            published = sns.publish(
                t,
                **form.publish_arguments(),
                base_url=_base_url(request),
                clock=clocks.for_workspace(ws),
            )
        except errors.AwsError as err:
            form.add_error(forms.sns_field(err, forms.PublishForm.FIELDS), err.message)
    if published is None:
        return render(
            request,
            f"{PAGE}#publish-form",
            {"workspace": ws, "topic": t, "publish_form": form},
            status=422,
        )
    fresh = forms.PublishForm(
        fifo=t.is_fifo, initial={"group_id": form.cleaned_data.get("group_id")}
    )
    return render(
        request,
        f"{PAGE}#publish-form",
        {"workspace": ws, "topic": t, "publish_form": fresh, "published": published},
    )


def _endpoint(ws, protocol: str, endpoint: str, base_url: str) -> tuple[str, str]:
    """The form's choice as SNS's (protocol, endpoint): names become ARNs and URLs."""
    endpoint = endpoint.strip()
    if protocol == "sqs" and not endpoint.startswith("arn:"):
        return "sqs", arns.queue(ws, endpoint)
    if protocol == "lambda" and not endpoint.startswith("arn:"):
        return "lambda", arns.function(ws, endpoint)
    if protocol == "inbox":
        if not inboxes.INBOX_NAME.match(endpoint):
            raise errors.SnsInvalidParameter(
                "Invalid parameter: Endpoint Reason: an inbox name is 1 to 64 letters, "
                "digits, hyphens, underscores or dots"
            )
        return "http", inboxes.inbox_url(base_url, ws, endpoint)
    return protocol, endpoint


@require_POST
def subscribe(request, slug, name):
    ws, t = _topic(request, slug, name)
    form = _subscribe_form(ws, request.POST)
    subscription = None
    if form.is_valid():
        data = form.cleaned_data
        attributes = {}
        if data["raw"]:
            attributes["RawMessageDelivery"] = "true"
        if data["filter_policy"].strip():
            attributes["FilterPolicy"] = data["filter_policy"]
        if data["dead_letter_queue"]:
            target = arns.queue(ws, data["dead_letter_queue"])
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": target})
        try:
            protocol, endpoint = _endpoint(
                ws, data["protocol"], data["endpoint"], _base_url(request)
            )
            with transaction.atomic():
                clock = clocks.for_workspace(ws)
                subscription = sns.subscribe(
                    t,
                    protocol,
                    endpoint,
                    attributes=attributes,
                    base_url=_base_url(request),
                    clock=clock,
                )
                if data["allow_send"]:
                    _allow_topic(ws, t, subscription, clock=clock)
        except errors.AwsError as err:
            form.add_error(forms.sns_field(err, forms.SubscribeForm.FIELDS), err.message)
    if subscription is None:
        return render(
            request,
            f"{PAGE}#subscribe-form",
            {"workspace": ws, "topic": t, "subscribe_form": form},
            status=422,
        )
    return render(
        request,
        f"{PAGE}#subscribe-form",
        {
            "workspace": ws,
            "topic": t,
            "subscribe_form": _subscribe_form(ws),
            "subscribed": subscription,
        },
    )


def _allow_topic(ws, t, subscription, *, clock) -> None:
    """What the console does on Subscribe: let the topic send to the queue (and DLQ)."""
    targets = [subscription.endpoint] if subscription.protocol == "sqs" else []
    dlq = deliveries.dead_letter_queue_arn(subscription)
    targets += [dlq] if dlq else []
    for arn in targets:
        queue = sqs.queue_by_arn(ws, arn)
        if queue is not None:
            permissions.allow_topic(queue, t.arn, clock=clock)


def _subscribe_form(ws, data=None):
    return forms.SubscribeForm(data, queue_names=[q.name for q in selectors.queues(ws)])


def _subscription(ws, t, uuid: str):
    subscription = next((s for s in selectors.topic_subscriptions(t) if str(s.uuid) == uuid), None)
    if subscription is None:
        raise Http404("No such subscription.")
    return subscription


@require_POST
def unsubscribe(request, slug, name, uuid):
    ws, t = _topic(request, slug, name)
    subscription = _subscription(ws, t, uuid)
    sns.unsubscribe(
        ws, subscription.arn, base_url=_base_url(request), clock=clocks.for_workspace(ws)
    )
    return render(request, f"{PAGE}#subscriptions", page.context(ws, t))


def _filter_form(subscription, data=None):
    return forms.FilterPolicyForm(
        data,
        initial={
            "policy": subscription.attributes.get("FilterPolicy", ""),
            "scope": subscription.attributes.get("FilterPolicyScope", "MessageAttributes"),
        },
        prefix_id=f"filter-{subscription.uuid}",
    )


@require_GET
def filter_editor(request, slug, name, uuid):
    ws, t = _topic(request, slug, name)
    subscription = _subscription(ws, t, uuid)
    return render(
        request,
        f"{PAGE}#filter-editor",
        {
            "workspace": ws,
            "topic": t,
            "subscription": subscription,
            "filter_form": _filter_form(subscription),
        },
    )


@require_POST
def filter_policy(request, slug, name, uuid):
    """Test the policy on a sample message ("matches", or why not), or save it."""
    ws, t = _topic(request, slug, name)
    subscription = _subscription(ws, t, uuid)
    form = _filter_form(subscription, request.POST)
    verdict, note = None, ""
    if form.is_valid():
        policy, scope = form.cleaned_data["policy"].strip(), form.cleaned_data["scope"]
        try:
            if request.POST.get("action") == "save":
                with transaction.atomic():
                    clock = clocks.for_workspace(ws)
                    if policy:  # the scope first: the policy is checked against it
                        sns.set_subscription_attributes(
                            subscription, "FilterPolicyScope", scope, clock=clock
                        )
                    sns.set_subscription_attributes(
                        subscription, "FilterPolicy", policy, clock=clock
                    )
                note = (
                    "Saved: the next messages are filtered with it."
                    if policy
                    else ("Removed: every message matches.")
                )
            elif policy:
                parsed = filters.parse(policy, scope=scope)
                verdict = filters.evaluate(
                    parsed,
                    scope=scope,
                    attributes=form.sample_attributes(),
                    message=form.cleaned_data["sample"],
                )
            else:
                verdict = filters.Verdict(True)
        except filters.PolicyError as error:
            form.add_error("policy", f"Invalid parameter: FilterPolicy: {error}")
        except errors.AwsError as err:
            form.add_error("policy", err.message)
    status = 422 if form.errors else 200
    return render(
        request,
        f"{PAGE}#filter-editor",
        {
            "workspace": ws,
            "topic": t,
            "subscription": subscription,
            "filter_form": form,
            "verdict": verdict,
            "note": note,
        },
        status=status,
    )


def _settings_form(t, data=None):
    attributes = sns.get_topic_attributes(t)
    initial = {
        name: attributes.get(attribute, "")
        for name, attribute in forms.TopicSettingsForm.ATTRIBUTES.items()
    }
    initial["content_based_deduplication"] = initial["content_based_deduplication"] == "true"
    return forms.TopicSettingsForm(data, initial=initial, fifo=t.is_fifo)


@require_POST
def settings(request, slug, name):
    """The topic's settings card: SetTopicAttributes for each changed value, all or none."""
    ws, t = _topic(request, slug, name)
    form = _settings_form(t, request.POST)
    if form.is_valid():
        clock = clocks.for_workspace(ws)
        try:
            with transaction.atomic():
                for attribute, value in form.changed(sns.get_topic_attributes(t)).items():
                    sns.set_topic_attributes(t, attribute, value, clock=clock)
        except errors.AwsError as err:
            t.refresh_from_db()
            field = {"DisplayName": "display_name", "DeliveryPolicy": "delivery_policy"}
            form.add_error(
                next((f for a, f in field.items() if a in err.message), None), err.message
            )
        else:
            t.refresh_from_db()
            return render(
                request,
                f"{PAGE}#topic-settings",
                {"workspace": ws, "topic": t, "settings_form": _settings_form(t), "note": "Saved."},
            )
    return render(
        request,
        f"{PAGE}#topic-settings",
        {"workspace": ws, "topic": t, "settings_form": form},
        status=422,
    )


@require_POST
def delete(request, slug, name):
    """The topic's Delete button: DeleteTopic (and its subscriptions), then the workspace."""
    ws, t = _topic(request, slug, name)
    sns.delete_topic(ws, t.arn, clock=clocks.for_workspace(ws))
    return redirect_to_workspace(ws)
