"""One queue, like the console's "Send and receive messages"."""

from __future__ import annotations

import re

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from broker import arns, costs, errors, selectors, sqs
from broker import clock as clocks
from broker.sqs import redrive
from playground import forms, pages
from playground.pages import common
from playground.pages import queue as page
from playground.views.access import workspace_or_404
from playground.views.workspace import connection_context, redirect_to_workspace

PAGE = "playground/queue.html"
MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
CONSOLE = "console"


def _queue(request, slug, name):
    ws = workspace_or_404(request, slug)
    try:
        return ws, sqs.get_queue(ws, name)
    except errors.QueueDoesNotExist:
        raise Http404("No such queue.") from None


def _details_context(request, ws, q, *, now: float) -> dict:
    """What the queue's card and its details list show (the page, and after an edit)."""
    return {
        "workspace": ws,
        "queue": q,
        "o": selectors.queue_overview(q, now=now),
        "queue_url": arns.queue_url(
            request.build_absolute_uri("/"), ws.account_id, q.name, ws.region
        ),
        "triggers": selectors.queue_triggers(q),
        "dead_letter_sources": selectors.dead_letter_sources(q),
    }


def queue(request, slug, name):
    ws, q = _queue(request, slug, name)
    now = clocks.for_workspace(ws).now()
    return render(
        request,
        PAGE,
        {
            **connection_context(request, ws),
            **common.clock_context(ws),
            **_details_context(request, ws, q, now=now),
            **page.messages_context(q, now=now),
            **page.redrive_context(q),
            "send_form": forms.SendMessageForm(fifo=q.is_fifo),
            "attributes_form": forms.QueueAttributesForm(
                fifo=q.is_fifo, initial=_settable_attributes(q, ws)
            ),
            "poll_form": forms.PollForm(),
            "received": [],
            "page": pages.page_param("queue", q.name),
        },
    )


def _settable_attributes(q, ws) -> dict[str, str]:
    current = sqs.get_queue_attributes(q, ["All"], clock=clocks.for_workspace(ws))
    return {name: current.get(name, "") for name in forms.QueueAttributesForm.base_fields}


@require_POST
def attributes(request, slug, name):
    """Edit the queue's attributes: SetQueueAttributes with what changed."""
    ws, q = _queue(request, slug, name)
    current = _settable_attributes(q, ws)
    form = forms.QueueAttributesForm(request.POST, fifo=q.is_fifo, initial=current)
    if form.is_valid():
        changed = form.changed(current)
        problems = sqs.attribute_errors(q, changed)
        for attribute, err in problems.items():
            forms.show_aws_error(form, err, {err.field: attribute})
        if not problems:
            if changed:
                sqs.set_queue_attributes(q, changed, clock=clocks.for_workspace(ws))
            now = clocks.for_workspace(ws).now()
            fresh = forms.QueueAttributesForm(fifo=q.is_fifo, initial=_settable_attributes(q, ws))
            details = render(
                request,
                f"{PAGE}#details",
                {**_details_context(request, ws, q, now=now), "oob": True},
            )
            response = render(
                request,
                f"{PAGE}#attributes-form",
                {
                    "workspace": ws,
                    "queue": q,
                    "attributes_form": fresh,
                    "attributes_saved": ", ".join(sorted(changed)) or "none",
                },
            )
            response.content += details.content
            return response
    return render(
        request,
        f"{PAGE}#attributes-form",
        {"workspace": ws, "queue": q, "attributes_form": form},
        status=422,
    )


@require_POST
def send(request, slug, name):
    ws, q = _queue(request, slug, name)
    form = forms.SendMessageForm(request.POST, fifo=q.is_fifo)
    if form.is_valid():
        arguments = form.send_arguments()
        # The console's buttons make API requests on AWS too. Counted before the
        # service call, so the count is written before its events are pushed.
        costs.sqs_request(ws, fifo=q.is_fifo, payload_bytes=_payload(arguments))
        try:
            sent = sqs.send_message(q, **arguments, sender=CONSOLE, clock=clocks.for_workspace(ws))
        except errors.AwsError as err:
            forms.show_aws_error(form, err, forms.SendMessageForm.FIELD_MAP)
        else:
            # A FIFO group usually goes on: keep it, start a fresh message.
            fresh = forms.SendMessageForm(
                fifo=q.is_fifo, initial={"group_id": form.cleaned_data.get("group_id")}
            )
            return render(
                request,
                f"{PAGE}#send-form",
                {"workspace": ws, "queue": q, "send_form": fresh, "sent": sent},
            )
    return render(
        request, f"{PAGE}#send-form", {"workspace": ws, "queue": q, "send_form": form}, status=422
    )


def _payload(arguments: dict) -> int:
    return sqs.payload_size(
        {"MessageBody": arguments["body"], "MessageAttributes": arguments["attributes"]}
    )


@require_POST
def poll(request, slug, name):
    """Receive messages as the console does (receiver "console")."""
    ws, q = _queue(request, slug, name)
    form = forms.PollForm(request.POST)
    received = []
    status = 200
    if form.is_valid():
        costs.sqs_request(ws, fifo=q.is_fifo)
        try:
            received = sqs.receive_messages(
                q,
                max_number=form.cleaned_data["max_number"],
                visibility=form.cleaned_data["visibility"],
                receiver=CONSOLE,
                clock=clocks.for_workspace(ws),
            )
        except errors.AwsError as err:
            forms.show_aws_error(
                form, err, {"MaxNumberOfMessages": "max_number", "VisibilityTimeout": "visibility"}
            )
            status = 422
    else:
        status = 422
    visible_at = _visible_at(q, received)
    return render(
        request,
        f"{PAGE}#receive",
        {
            "workspace": ws,
            "queue": q,
            "poll_form": form,
            "polled": True,
            "received": [(r, visible_at.get(r.message_id)) for r in received],
        },
        status=status,
    )


def _visible_at(q, received) -> dict:
    ids = [r.message_id for r in received]
    return dict(q.messages.filter(message_id__in=ids).values_list("message_id", "visible_at"))


@require_POST
def delete_message(request, slug, name):
    ws, q = _queue(request, slug, name)
    handle = request.POST.get("receipt_handle", "")
    # The row to replace on the page: the id the page sent, if it is one.
    message_id = request.POST.get("message_id", "")
    if not MESSAGE_ID.fullmatch(message_id):
        message_id = ""
    costs.sqs_request(ws, fifo=q.is_fifo)
    try:
        sqs.delete_message(q, handle, actor=CONSOLE, clock=clocks.for_workspace(ws))
    except errors.AwsError as err:
        error = err.message
    else:
        error = ""
    return render(
        request,
        f"{PAGE}#deleted-row",
        {
            "workspace": ws,
            "queue": q,
            "message_id": message_id,
            "error": error,
        },
        status=422 if error else 200,
    )


@require_POST
def purge(request, slug, name):
    ws, q = _queue(request, slug, name)
    try:
        deleted = sqs.purge_queue(q, clock=clocks.for_workspace(ws))
    except errors.AwsError as err:
        return render(
            request,
            f"{PAGE}#purge",
            {"workspace": ws, "queue": q, "purge_error": err.message},
            status=422,
        )
    return render(request, f"{PAGE}#purge", {"workspace": ws, "queue": q, "purged": deleted})


@require_POST
def delete(request, slug, name):
    """The queue's Delete button: DeleteQueue, then back to the workspace page."""
    ws, q = _queue(request, slug, name)
    sqs.delete_queue(q, clock=clocks.for_workspace(ws))
    return redirect_to_workspace(ws)


@require_POST
def start_redrive(request, slug, name):
    """The DLQ's "Start DLQ redrive" button: a message move task back to the sources."""
    ws, q = _queue(request, slug, name)
    destinations = [d.name for d in selectors.redrive_destinations(q)]
    form = forms.RedriveForm(request.POST, destinations=destinations)
    status = 422
    if form.is_valid():
        destination = form.cleaned_data["destination"]
        try:
            redrive.start_move_task(
                ws,
                q.arn,
                rate=form.cleaned_data["rate"],
                destination_arn=sqs.get_queue(ws, destination).arn if destination else None,
                clock=clocks.for_workspace(ws),
            )
        except errors.AwsError as err:
            forms.show_aws_error(form, err, forms.RedriveForm.FIELD_MAP)
        else:
            form, status = None, 200
    return render(
        request,
        f"{PAGE}#redrive",
        {"workspace": ws, "queue": q, **page.redrive_context(q, form)},
        status=status,
    )


@require_POST
def cancel_redrive(request, slug, name):
    ws, q = _queue(request, slug, name)
    error = ""
    try:
        redrive.cancel_move_task(ws, request.POST.get("handle", ""), clock=clocks.for_workspace(ws))
    except errors.AwsError as err:
        error = err.message
    return render(
        request,
        f"{PAGE}#redrive",
        {"workspace": ws, "queue": q, "redrive_error": error, **page.redrive_context(q)},
        status=422 if error else 200,
    )
