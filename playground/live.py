"""Events → HTML fragments for open pages.

A page says what it shows (`Page`: the workspace canvas, one queue, one message,
one function). On connect the consumer sends `snapshot()`: every live fragment
of that page. Afterwards it calls `changes()` with the id of the last event it
has seen; the new `Event` rows say what changed, and the fragments are rendered
from the *same* named partials the page itself renders, so the browser swaps
them by id (htmx ws extension). Rows of a stream (API feed, timeline, log) are
appended with `hx-swap-oob`. The stored events are the truth: a dropped frame
is repaired by the next one, a reconnect by the snapshot.

Sync code: the consumer runs it under `database_sync_to_async`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from django.template.loader import render_to_string

from broker import arns, events, kms, selectors
from broker import clock as clocks
from broker.kms import data_keys, encryption
from broker.models import Event, EventSourceMapping, Function, Queue, Workspace

# How many new events one render looks at; more are picked up by the next render.
EVENTS_PER_RENDER = 2000
# Dots per edge and render: enough to show a flow, few enough for a projector.
MAX_PULSES_PER_EDGE = 5


@dataclass(frozen=True)
class Page:
    kind: str  # "workspace", "queue", "message", "function"
    key: str = ""


@dataclass
class Update:
    html: str
    cursor: int
    pulses: list[dict] = field(default_factory=list)
    more: bool = False


def parse_page(query_string: bytes | str) -> Page:
    """`?page=queue:MyTaskQueue` → Page("queue", "MyTaskQueue")."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    raw = (parse_qs(query_string).get("page") or ["workspace"])[0]
    kind, _, key = raw.partition(":")
    if kind not in {"workspace", "queue", "message", "function"}:
        kind, key = "workspace", ""
    return Page(kind, key)


def page_param(kind: str, key: str = "") -> str:
    return f"{kind}:{key}" if key else kind


# --- contexts shared by the pages and the pushes ---------------------------------


SPEEDS = [0.25, 1, 10, 100]


def clock_context(workspace: Workspace) -> dict:
    return {
        "workspace": workspace,
        "clock": clocks.describe(workspace),
        "clock_now": clocks.for_workspace(workspace).now(),
        "speeds": SPEEDS,
    }


def function_overview(function: Function) -> dict:
    from broker.models import Invocation

    running = Invocation.objects.filter(function=function, status=Invocation.Status.RUNNING)
    last = (
        Invocation.objects.filter(function=function)
        .exclude(status=Invocation.Status.RUNNING)
        .first()
    )
    failing = list(function.mappings.exclude(poll_error="").select_related("queue"))
    return {
        "function": function,
        "running": running.count(),
        "last": last,
        "failing_polls": failing,
    }


def message_context(workspace: Workspace, message_id: str, *, now: float) -> dict:
    message = selectors.find_message(workspace, message_id)
    state = selectors.message_state(message, now=now) if message else "deleted"
    context = {"workspace": workspace, "message": message, "message_id": message_id, "state": state}
    if message is not None:
        body, attributes, locked = selectors.plaintext(message, encryption.Opener(message.queue))
        context.update(
            body=body, attributes=attributes, locked=locked, at_rest=encryption.describe(message)
        )
    return context


def _render(name: str, context: dict) -> str:
    return render_to_string(f"playground/{name}", context).strip()


def render_clock(workspace: Workspace) -> str:
    return _render("workspace.html#clock", clock_context(workspace))


def render_queue_card(workspace: Workspace, overview) -> str:
    return _render("workspace.html#queue-card", {"workspace": workspace, "o": overview})


def render_function_node(workspace: Workspace, function: Function) -> str:
    return _render(
        "workspace.html#function-node", {"workspace": workspace, "f": function_overview(function)}
    )


def render_pipeline(workspace: Workspace, *, now: float) -> str:
    return _render("workspace.html#pipeline", pipeline_context(workspace, now=now))


def pipeline_context(workspace: Workspace, *, now: float) -> dict:
    p = selectors.pipeline(workspace, now=now)
    return {
        "workspace": workspace,
        "pipeline": p,
        "function_nodes": [function_overview(f) for f in p.functions],
    }


def render_triggers(workspace: Workspace) -> str:
    mappings = selectors.pipeline(workspace, now=0).mappings
    return _render("workspace.html#triggers", {"workspace": workspace, "mappings": mappings})


def messages_context(queue: Queue, *, now: float) -> dict:
    """What the queue page's message panel shows: a table, or lanes for FIFO groups."""
    if queue.is_fifo:
        return {
            "lanes": selectors.fifo_lanes(queue, now=now),
            "group_count": selectors.group_count(queue),
        }
    return {"rows": selectors.message_table(queue, now=now)}


def kms_context(workspace: Workspace, *, quota_form=None) -> dict:
    """The workspace's KMS keys card: each listed key with its aliases, the account's
    request quota, and the latest requests SQS made of KMS."""
    from playground import forms

    aliases: dict[int, list[str]] = {}
    for alias in kms.list_aliases(workspace):
        aliases.setdefault(alias.key_id, []).append(alias.name)
    requests = data_keys.requests_by_key(workspace)
    return {
        "kms_keys": [
            {"key": k, "aliases": aliases.get(k.pk, []), "requests": requests.get(k.pk, (0, 0))}
            for k in kms.list_keys(workspace)
        ],
        "kms_quota_form": quota_form
        or forms.KmsQuotaForm(initial={"quota": workspace.kms_request_quota}),
        "kms_requests": selectors.kms_requests(workspace),
    }


def render_kms_changes(workspace: Workspace) -> list[str]:
    """What a KMS event changes on the card: its keys, requests and opt-in state, never its
    create and quota forms, so a push does not wipe what the learner is typing there."""
    context = {"workspace": workspace, **kms_context(workspace)}
    return [
        _render(f"workspace.html#{name}", context)
        for name in ("kms-key-table", "kms-requests", "kms-opt-in")
    ]


def redrive_context(queue: Queue, form=None) -> dict:
    """The dead-letter queue's redrive card: its form and its newest move tasks."""
    from playground import forms

    destinations = [q.name for q in selectors.redrive_destinations(queue)]
    return {
        "redrive_form": form or forms.RedriveForm(destinations=destinations),
        "move_tasks": selectors.move_tasks(queue),
    }


def render_move_tasks(workspace: Workspace, queue: Queue) -> str:
    """The redrive card's tasks, without its form: a running task's progress must not wipe
    the destination or rate being typed."""
    return _render(
        "queue.html#move-tasks",
        {"workspace": workspace, "queue": queue, "move_tasks": selectors.move_tasks(queue)},
    )


def render_messages(workspace: Workspace, queue: Queue, *, now: float) -> str:
    return _render(
        "queue.html#messages",
        {
            "workspace": workspace,
            "queue": queue,
            **messages_context(queue, now=now),
        },
    )


def render_invocations(workspace: Workspace, function: Function) -> str:
    return _render(
        "function.html#invocations",
        {
            "workspace": workspace,
            "function": function,
            "invocations": selectors.invocations(function),
        },
    )


# --- snapshot and changes -------------------------------------------------------------


def snapshot(workspace_id: int, page: Page) -> tuple[str, int]:
    """Every live fragment of the page, and the event id it is current up to."""
    workspace = Workspace.objects.get(pk=workspace_id)
    cursor = selectors.last_event_id(workspace)
    now = clocks.for_workspace(workspace).now()
    parts = [render_clock(workspace)]
    if page.kind == "workspace":
        parts.append(render_pipeline(workspace, now=now))
        parts.append(render_triggers(workspace))
        parts.append(
            _render(
                "workspace.html#api-feed",
                {"workspace": workspace, "api_calls": selectors.api_feed(workspace)},
            )
        )
    elif page.kind == "queue":
        queue = Queue.objects.filter(workspace=workspace, name=page.key).first()
        if queue is not None:
            parts.append(render_queue_card(workspace, selectors.queue_overview(queue, now=now)))
            parts.append(render_messages(workspace, queue, now=now))
    elif page.kind == "message":
        parts.append(
            _render("message.html#message-state", message_context(workspace, page.key, now=now))
        )
        parts.append(
            _render(
                "message.html#timeline",
                {
                    "workspace": workspace,
                    "timeline": selectors.message_timeline(workspace, page.key),
                },
            )
        )
    elif page.kind == "function":
        function = Function.objects.filter(workspace=workspace, name=page.key).first()
        if function is not None:
            parts.append(render_invocations(workspace, function))
            parts.append(
                _render(
                    "function.html#log",
                    {
                        "workspace": workspace,
                        "function": function,
                        "log_lines": selectors.function_log(function),
                    },
                )
            )
    return "\n".join(parts), cursor


def changes(workspace_id: int, page: Page, cursor: int) -> Update:
    """The fragments that the events after `cursor` change on this page."""
    workspace = Workspace.objects.get(pk=workspace_id)
    new = selectors.events_after(workspace_id, cursor, limit=EVENTS_PER_RENDER)
    if not new:
        return Update("", cursor)
    update = Update("", new[-1].pk, more=len(new) >= EVENTS_PER_RENDER)
    now = clocks.for_workspace(workspace).now()
    parts: list[str] = []
    if any(e.kind == "clock.changed" for e in new):
        parts.append(render_clock(workspace))
    renderer = {
        "workspace": _workspace_changes,
        "queue": _queue_changes,
        "message": _message_changes,
        "function": _function_changes,
    }[page.kind]
    parts.extend(renderer(workspace, page, new, now, update))
    update.html = "\n".join(p for p in parts if p)
    return update


def _kind(e: Event) -> events.Kind:
    return events.kind(e.kind)


def _function_name(e: Event) -> str:
    return e.subject.removeprefix("function:")


def _workspace_changes(workspace, page, new: list[Event], now, update: Update) -> list[str]:
    parts = []
    structural = any(_kind(e).structural for e in new)
    if structural:
        parts.append(render_pipeline(workspace, now=now))
        parts.append(render_triggers(workspace))
        parts.append(_render("workspace.html#trigger-form-options", forms_context(workspace)))
    else:
        touched = {e.queue for e in new if e.queue}
        touched |= {e.data.get("dlq") for e in new if e.kind == "message.moved_to_dlq"}
        touched |= {e.data.get("destination") for e in new if e.kind == "message.redriven"}
        queues = {q.name: q for q in Queue.objects.filter(workspace=workspace)}
        # A source queue's card shows its DLQ's count: redraw the sources too.
        for q in queues.values():
            dlq_name = arns.queue_name(q.dead_letter_target_arn)
            if dlq_name in touched:
                touched.add(q.name)
        for name in sorted(n for n in touched if n in queues):
            overview = selectors.queue_overview(queues[name], now=now, queues_by_name=queues)
            parts.append(render_queue_card(workspace, overview))
        names = {_function_name(e) for e in new if _kind(e).about == "invocation"}
        for function in Function.objects.filter(workspace=workspace, name__in=names):
            parts.append(render_function_node(workspace, function))
    if any(_kind(e).service == "kms" for e in new):
        parts.extend(render_kms_changes(workspace))
    calls = [e for e in new if e.kind == "api.call"][-selectors.API_FEED_LIMIT :]
    if calls:
        parts.append(
            _render("workspace.html#api-rows", {"workspace": workspace, "api_calls": calls})
        )
    update.pulses = _pulses(workspace, new)
    return parts


def _pulses(workspace, new: list[Event]) -> list[dict]:
    """Dots to animate along the canvas edges, counted per edge."""
    relevant = [
        e for e in new if e.kind in {"message.sent", "message.received", "message.moved_to_dlq"}
    ]
    if not relevant:
        return []
    queues = {q.name: q for q in Queue.objects.filter(workspace=workspace)}
    mappings: dict[str, list[EventSourceMapping]] = {}
    for m in EventSourceMapping.objects.filter(workspace=workspace).select_related("function"):
        mappings.setdefault(m.queue_id, []).append(m)
    edges: Counter = Counter()
    for e in relevant:
        queue = queues.get(e.queue)
        if queue is None:
            continue
        if e.kind == "message.sent":
            edges[("node-producer", f"queue-{queue.pk}")] += 1
        elif e.kind == "message.received":
            receiver = str(e.data.get("receiver") or "")
            candidates = mappings.get(queue.pk, [])
            if receiver == "console" or not candidates:
                continue
            chosen = next(
                (m for m in candidates if receiver == f"lambda:{m.function.name}"), candidates[0]
            )
            edges[(f"queue-{queue.pk}", f"function-{chosen.function_id}")] += 1
        else:
            dlq = queues.get(e.data.get("dlq"))
            if dlq is not None:
                edges[(f"queue-{queue.pk}", f"queue-{dlq.pk}")] += 1
    return [{"from": a, "to": b, "n": min(n, MAX_PULSES_PER_EDGE)} for (a, b), n in edges.items()]


def _queue_changes(workspace, page, new: list[Event], now, update: Update) -> list[str]:
    name = page.key
    hit = any(
        e.queue == name or e.data.get("dlq") == name or e.data.get("destination") == name
        for e in new
    )
    if not hit:
        return []
    queue = Queue.objects.filter(workspace=workspace, name=name).first()
    if queue is None:
        return []
    parts = [
        render_queue_card(workspace, selectors.queue_overview(queue, now=now)),
        render_messages(workspace, queue, now=now),
    ]
    if any(_kind(e).about == "move_task" and e.queue == name for e in new):
        parts.append(render_move_tasks(workspace, queue))
    return parts


def _message_changes(workspace, page, new: list[Event], now, update: Update) -> list[str]:
    rows = [e for e in new if e.message_id == page.key]
    if not rows:
        return []
    return [
        _render("message.html#message-state", message_context(workspace, page.key, now=now)),
        _render("message.html#timeline-append", {"workspace": workspace, "timeline": rows}),
    ]


def _function_changes(workspace, page, new: list[Event], now, update: Update) -> list[str]:
    mine = [e for e in new if e.subject == events.subject("function", page.key)]
    if not mine:
        return []
    function = Function.objects.filter(workspace=workspace, name=page.key).first()
    if function is None:
        return []
    parts = []
    if any(_kind(e).about == "mapping" for e in mine):
        parts.append(
            _render(
                "function.html#function-triggers",
                {
                    "workspace": workspace,
                    "function": function,
                    "mappings": selectors.function_triggers(function),
                },
            )
        )
    if any(_kind(e).about == "invocation" for e in mine):
        parts.append(render_invocations(workspace, function))
    lines = [e for e in mine if e.kind == "function.logged"][-selectors.LOG_LIMIT :]
    if lines:
        parts.append(
            _render(
                "function.html#log-append",
                {"workspace": workspace, "function": function, "log_lines": lines},
            )
        )
    return parts


def forms_context(workspace: Workspace, *, created: bool = False) -> dict:
    """The unbound create/trigger forms, whose choices follow the workspace's resources.

    Names default to one no resource uses yet; `created` (the answer to a successful
    create) leaves the name empty, with that fresh name as the placeholder."""
    from playground import forms

    queue_names = [q.name for q in selectors.queues(workspace)]
    function_names = [f.name for f in selectors.functions(workspace)]
    return {
        "workspace": workspace,
        "queue_form": forms.CreateQueueForm(queue_names=queue_names, blank_name=created),
        "function_form": forms.CreateFunctionForm(
            function_names=function_names, blank_name=created
        ),
        "trigger_form": forms.AddTriggerForm(
            queue_names=queue_names, function_names=function_names
        ),
    }


def pulses_frame(pulses: list[dict]) -> str:
    return json.dumps({"pulses": pulses})


def server_now() -> float:
    return time.time()
