"""The function page: its triggers, its invocations and its log stream."""

from __future__ import annotations

from broker import events, selectors
from broker.models import Event, Function, Workspace
from playground.pages.common import Update, kind, render


def _invocations(workspace: Workspace, function: Function) -> str:
    return render(
        "function.html#invocations",
        {
            "workspace": workspace,
            "function": function,
            "invocations": selectors.invocations(function),
        },
    )


def _concurrency(workspace: Workspace, function: Function, *, now: float) -> str:
    return render(
        "function.html#concurrency",
        {
            "workspace": workspace,
            "function": function,
            "concurrency": selectors.function_concurrency(function, now=now),
        },
    )


def snapshot(workspace: Workspace, name: str, *, now: float) -> list[str]:
    function = selectors.function(workspace, name)
    if function is None:
        return []
    return [
        _invocations(workspace, function),
        _concurrency(workspace, function, now=now),
        render(
            "function.html#log",
            {
                "workspace": workspace,
                "function": function,
                "log_lines": selectors.function_log(function),
            },
        ),
    ]


def changes(workspace: Workspace, name: str, new: list[Event], *, now: float, update: Update):
    mine = [e for e in new if e.subject == events.subject("function", name)]
    function = selectors.function(workspace, name) if mine else None
    if function is None:
        return []
    parts = []
    if any(kind(e).about == "mapping" for e in mine):
        parts.append(
            render(
                "function.html#function-triggers",
                {
                    "workspace": workspace,
                    "function": function,
                    "mappings": selectors.function_triggers(function),
                },
            )
        )
    if any(kind(e).about == "invocation" for e in mine):
        parts.append(_invocations(workspace, function))
    if any(
        kind(e).about in ("invocation", "mapping") or e.kind == "function.concurrency_set"
        for e in mine
    ):
        parts.append(_concurrency(workspace, function, now=now))
    lines = [e for e in mine if e.kind == "function.logged"][-selectors.LOG_LIMIT :]
    if lines:
        parts.append(
            render(
                "function.html#log-append",
                {"workspace": workspace, "function": function, "log_lines": lines},
            )
        )
    return parts
