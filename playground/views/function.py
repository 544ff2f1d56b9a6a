"""One function: configuration, triggers, invocations and its log stream."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from broker import clock as clocks
from broker import errors, lambdas, selectors
from playground import forms, pages
from playground.pages import common
from playground.views.access import workspace_or_404
from playground.views.workspace import connection_context

PAGE = "playground/function.html"


def _function(ws, name):
    fn = selectors.function(ws, name)
    if fn is None:
        raise Http404("No such function.")
    return fn


def _config_form(function, data=None):
    initial = {
        k: getattr(function, k)
        for k in ("duration", "timeout", "fail_when_body_contains", "log_template")
    }
    return forms.FunctionConfigForm(data, initial=initial, auto_id="config_%s")


def function(request, slug, name):
    ws = workspace_or_404(request, slug)
    fn = _function(ws, name)
    return render(
        request,
        PAGE,
        {
            **connection_context(request, ws),
            **common.clock_context(ws),
            "function": fn,
            "config_form": _config_form(fn),
            "mappings": selectors.function_triggers(fn),
            "invocations": selectors.invocations(fn),
            "log_lines": selectors.function_log(fn),
            "page": pages.page_param("function", fn.name),
        },
    )


@require_POST
def update(request, slug, name):
    ws = workspace_or_404(request, slug)
    fn = _function(ws, name)
    form = _config_form(fn, request.POST)
    if form.is_valid():
        try:
            lambdas.update_function(fn, **form.config(), clock=clocks.for_workspace(ws))
            fn.refresh_from_db()
        except errors.AwsError as err:
            forms.show_aws_error(form, err)
        else:
            return render(
                request,
                f"{PAGE}#config",
                {
                    "workspace": ws,
                    "function": fn,
                    "config_form": _config_form(fn),
                    "note": "Saved.",
                },
            )
    return render(
        request,
        f"{PAGE}#config",
        {"workspace": ws, "function": fn, "config_form": form},
        status=422,
    )
