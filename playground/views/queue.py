"""One queue, like the console's "Send and receive messages"."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from broker import clock as clocks
from broker import errors, selectors, sqs
from playground import forms, live
from playground.views.access import workspace_or_404
from playground.views.workspace import connection_context

PAGE = "playground/queue.html"
CONSOLE = "console"


def _queue(request, slug, name):
    ws = workspace_or_404(request, slug)
    try:
        return ws, sqs.get_queue(ws, name)
    except errors.QueueDoesNotExist:
        raise Http404("No such queue.") from None


def queue(request, slug, name):
    ws, q = _queue(request, slug, name)
    now = clocks.for_workspace(ws).now()
    overview = selectors.queue_overview(q, now=now)
    return render(request, PAGE, {
        **connection_context(request, ws),
        **live.clock_context(ws),
        "queue": q,
        "o": overview,
        "queue_url": f"{request.build_absolute_uri('/')}{ws.account_id}/{q.name}",
        **live.messages_context(q, now=now),
        "triggers": selectors.queue_triggers(q),
        "dead_letter_sources": selectors.dead_letter_sources(q),
        "send_form": forms.SendMessageForm(fifo=q.is_fifo),
        "poll_form": forms.PollForm(),
        "received": [],
        "page": live.page_param("queue", q.name),
    })


@require_POST
def send(request, slug, name):
    ws, q = _queue(request, slug, name)
    form = forms.SendMessageForm(request.POST, fifo=q.is_fifo)
    if form.is_valid():
        try:
            sent = sqs.send_message(q, **form.send_arguments(), sender=CONSOLE,
                                    clock=clocks.for_workspace(ws))
        except errors.AwsError as err:
            forms.show_aws_error(form, err, forms.SendMessageForm.FIELD_MAP)
        else:
            # A FIFO group usually goes on: keep it, start a fresh message.
            fresh = forms.SendMessageForm(fifo=q.is_fifo,
                                          initial={"group_id": form.cleaned_data.get("group_id")})
            return render(request, f"{PAGE}#send-form", {
                "workspace": ws, "queue": q, "send_form": fresh, "sent": sent})
    return render(request, f"{PAGE}#send-form",
                  {"workspace": ws, "queue": q, "send_form": form}, status=422)


@require_POST
def poll(request, slug, name):
    """Receive messages as the console does (receiver "console")."""
    ws, q = _queue(request, slug, name)
    form = forms.PollForm(request.POST)
    received = []
    status = 200
    if form.is_valid():
        try:
            received = sqs.receive_messages(
                q, max_number=form.cleaned_data["max_number"],
                visibility=form.cleaned_data["visibility"], receiver=CONSOLE,
                clock=clocks.for_workspace(ws))
        except errors.AwsError as err:
            forms.show_aws_error(form, err, {"MaxNumberOfMessages": "max_number",
                                             "VisibilityTimeout": "visibility"})
            status = 422
    else:
        status = 422
    visible_at = _visible_at(q, received)
    return render(request, f"{PAGE}#receive", {
        "workspace": ws, "queue": q, "poll_form": form, "polled": True,
        "received": [(r, visible_at.get(r.message_id)) for r in received],
    }, status=status)


def _visible_at(q, received) -> dict:
    ids = [r.message_id for r in received]
    return dict(q.messages.filter(message_id__in=ids).values_list("message_id", "visible_at"))


@require_POST
def delete_message(request, slug, name):
    ws, q = _queue(request, slug, name)
    handle = request.POST.get("receipt_handle", "")
    message_id = request.POST.get("message_id", "")
    try:
        sqs.delete_message(q, handle, actor=CONSOLE, clock=clocks.for_workspace(ws))
    except errors.AwsError as err:
        error = err.message
    else:
        error = ""
    return render(request, f"{PAGE}#deleted-row", {
        "workspace": ws, "queue": q, "message_id": message_id, "error": error,
    }, status=422 if error else 200)


@require_POST
def purge(request, slug, name):
    ws, q = _queue(request, slug, name)
    try:
        deleted = sqs.purge_queue(q, clock=clocks.for_workspace(ws))
    except errors.AwsError as err:
        return render(request, f"{PAGE}#purge", {"workspace": ws, "queue": q,
                                                 "purge_error": err.message}, status=422)
    return render(request, f"{PAGE}#purge", {"workspace": ws, "queue": q,
                                             "purged": deleted})
