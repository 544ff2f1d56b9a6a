"""One message's timeline, kept after deletion."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from broker import clock as clocks
from broker import selectors
from playground import pages
from playground.pages import common
from playground.pages import message as page
from playground.views.access import workspace_or_404
from playground.views.workspace import connection_context


def message(request, slug, message_id):
    ws = workspace_or_404(request, slug)
    now = clocks.for_workspace(ws).now()
    timeline = selectors.message_timeline(ws, message_id)
    context = page.message_context(ws, message_id, now=now)
    if context["message"] is None and not timeline:
        raise Http404("No such message.")
    return render(
        request,
        "playground/message.html",
        {
            **connection_context(request, ws),
            **common.clock_context(ws),
            **context,
            "queue_name": context["message"].queue.name
            if context["message"]
            else timeline[0].queue,
            "timeline": timeline,
            "page": pages.page_param("message", message_id),
        },
    )
