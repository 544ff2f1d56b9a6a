"""One function: configuration, triggers, invocations and its log stream."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from broker import clock as clocks
from broker import errors, lambdas, selectors
from broker.lambdas import roles, runtime
from playground import forms, pages
from playground.pages import common
from playground.views.access import workspace_or_404
from playground.views.workspace import connection_context, redirect_to_workspace

PAGE = "playground/function.html"


def _function(ws, name):
    fn = selectors.function(ws, name)
    if fn is None:
        raise Http404("No such function.")
    return fn


def _config_form(function, data=None):
    initial = {k: getattr(function, k) for k in forms.FunctionConfigForm.SETTINGS}
    return forms.FunctionConfigForm(
        data,
        initial=initial,
        auto_id="config_%s",
        database_names=[d.name for d in selectors.databases(function.workspace)],
    )


def _role_actions(function) -> list[tuple[str, bool]]:
    allowed = function.role_actions
    return [(a, allowed is None or a in allowed) for a in roles.ACTIONS]


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
            "runs_code": runtime.runs_code(fn),
            "config_form": _config_form(fn),
            "test_form": forms.TestEventForm(auto_id="test_%s"),
            "role_actions": _role_actions(fn),
            "mappings": selectors.function_triggers(fn),
            "invocations": selectors.invocations(fn),
            "concurrency": selectors.function_concurrency(fn, now=clocks.for_workspace(ws).now()),
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


@require_POST
def delete(request, slug, name):
    """The function's Delete button: DeleteFunction, then back to the workspace page."""
    ws = workspace_or_404(request, slug)
    lambdas.delete_function(_function(ws, name), clock=clocks.for_workspace(ws))
    return redirect_to_workspace(ws)


@require_POST
def test(request, slug, name):
    """The console's Test button: a synchronous Invoke whose run the page then shows."""
    ws = workspace_or_404(request, slug)
    fn = _function(ws, name)
    form = forms.TestEventForm(request.POST, auto_id="test_%s")
    context = {"workspace": ws, "function": fn, "test_form": form}
    if form.is_valid():
        try:
            invocation = lambdas.invoke(
                fn,
                form.cleaned_data["event"].encode(),
                invocation_type="RequestResponse",
                clock=clocks.for_workspace(ws),
            )
        except errors.AwsError as err:
            form.add_error("event", f"{err.code}: {err.message}")
        else:
            note = f"Invoked: request {invocation.request_id[:8]}. Its run shows below."
            return render(request, f"{PAGE}#test-form", {**context, "note": note})
    return render(request, f"{PAGE}#test-form", context, status=422)


@require_POST
def role(request, slug, name):
    """Set the SQS actions of the function's execution role: a preset or a choice."""
    ws = workspace_or_404(request, slug)
    fn = _function(ws, name)
    preset = request.POST.get("preset", "custom")
    actions = {
        "all": None,
        "execution-role": list(roles.SQS_QUEUE_EXECUTION_ROLE),
    }.get(preset, request.POST.getlist("actions"))
    status, note = 200, ""
    try:
        roles.set_actions(fn, actions, clock=clocks.for_workspace(ws))
    except errors.AwsError as err:
        status, note = 422, err.message
    else:
        note = "Saved: " + (", ".join(fn.role_actions) if fn.role_actions else "all SQS actions")
        if fn.role_actions == []:
            note = "Saved: no SQS action at all."
    return render(
        request,
        f"{PAGE}#role",
        {"workspace": ws, "function": fn, "role_actions": _role_actions(fn), "note": note},
        status=status,
    )
