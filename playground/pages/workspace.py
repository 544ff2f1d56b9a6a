"""The workspace page: the pipeline canvas, the create forms, triggers, KMS keys, the
cost of the run and the API feed, and what each kind of event redraws on it."""

from __future__ import annotations

from collections import Counter

from broker import arns, costs, kms, selectors
from broker.kms import data_keys
from broker.models import Event, Function, Workspace
from playground.pages import dom
from playground.pages.common import Update, kind, render, simtime

# Dots per edge and render: enough to show a flow, few enough for a projector.
MAX_PULSES_PER_EDGE = 5
# What the API feed keeps: the server renders this many, the browser trims to it.
API_FEED_LIMIT = selectors.API_FEED_LIMIT


def pipeline_context(workspace: Workspace, *, now: float) -> dict:
    """The canvas and the triggers table, from one reading of the pipeline."""
    p = selectors.pipeline(workspace, now=now)
    return {
        "workspace": workspace,
        "pipeline": p,
        "edges": [dom.edge(e) for e in p.edges],
        "mappings": p.mappings,
        "api_feed_limit": API_FEED_LIMIT,
    }


def forms_context(workspace: Workspace, *, created: bool = False) -> dict:
    """The unbound create/trigger forms, whose choices follow the workspace's resources.

    Names default to one no resource uses yet; `created` (the answer to a successful
    create) leaves the name empty, with that fresh name as the placeholder."""
    from playground import forms

    queue_names = [q.name for q in selectors.queues(workspace)]
    function_names = [f.name for f in selectors.functions(workspace)]
    topic_names = list(selectors.topics_by_name(workspace))
    database_names = [d.name for d in selectors.databases(workspace)]
    return {
        "workspace": workspace,
        "topic_form": forms.CreateTopicForm(topic_names=topic_names, blank_name=created),
        "queue_form": forms.CreateQueueForm(queue_names=queue_names, blank_name=created),
        "function_form": forms.CreateFunctionForm(
            function_names=function_names, database_names=database_names, blank_name=created
        ),
        "database_form": forms.CreateDatabaseForm(
            database_names=database_names, blank_name=created
        ),
        "producer_form": forms.CreateProducerForm(
            producer_names=[p.name for p in selectors.producers(workspace)],
            targets=selectors.producer_targets(workspace),
            blank_name=created,
        ),
        "trigger_form": forms.AddTriggerForm(
            queue_names=queue_names, function_names=function_names
        ),
    }


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


# The events of work AWS bills (or of a new run): the cost panel is drawn again, once
# per push however many of them it carries.
COSTLY_KINDS = {
    "api.call",
    "message.sent",
    "message.received",
    "message.deleted",
    "invocation.started",
    "invocation.finished",
    "topic.published",
    "subscription.delivered",
    "subscription.delivery_failed",
    "inbox.received",
    "key.data_key_generated",
    "key.data_key_decrypted",
    "account.costs_reset",
}


def cost_context(workspace: Workspace) -> dict:
    """The run's bill at list prices and what batching saved in it."""
    usage = costs.usage(workspace)
    return {"workspace": workspace, "bill": costs.bill(usage), "batching": costs.batching(usage)}


def snapshot(workspace: Workspace, key: str, *, now: float) -> list[str]:
    context = pipeline_context(workspace, now=now)
    return [
        render("workspace.html#pipeline", context),
        render("workspace.html#triggers", context),
        render(
            "workspace.html#api-feed",
            {**context, "api_calls": selectors.api_feed(workspace, limit=API_FEED_LIMIT)},
        ),
        render("workspace.html#cost-panel", cost_context(workspace)),
    ]


def changes(workspace: Workspace, key: str, new: list[Event], *, now: float, update: Update):
    parts = []
    if any(kind(e).structural for e in new):
        context = pipeline_context(workspace, now=now)
        parts.append(render("workspace.html#pipeline", context))
        parts.append(render("workspace.html#triggers", context))
        parts.append(render("workspace.html#trigger-form-options", forms_context(workspace)))
    else:
        parts.extend(_queue_cards(workspace, new, now=now))
        names = {_function_name(e) for e in new if kind(e).about == "invocation"}
        functions = selectors.functions_named(workspace, names)
        for function in functions:
            parts.append(_function_node(workspace, function))
        # A run writes to its function's database: its counters change.
        for database in selectors.databases_written_by(workspace, functions):
            parts.append(database_node(workspace, database, now=now))
        called = {e.subject.removeprefix("producer:") for e in new if kind(e).about == "producer"}
        for overview in selectors.producer_overviews(workspace, called, now=now):
            parts.append(producer_node(workspace, overview))
    if any(kind(e).service == "kms" for e in new):
        parts.extend(_kms_changes(workspace))
    if any(e.kind in COSTLY_KINDS for e in new):
        parts.append(render("workspace.html#cost-panel", cost_context(workspace)))
    calls = [e for e in new if e.kind == "api.call"][-API_FEED_LIMIT:]
    if calls:
        parts.append(
            render("workspace.html#api-rows", {"workspace": workspace, "api_calls": calls})
        )
    update.pulses = _pulses(workspace, new)
    return parts


def _function_name(e: Event) -> str:
    return e.subject.removeprefix("function:")


def _queue_cards(workspace: Workspace, new: list[Event], *, now: float) -> list[str]:
    """The cards of the queues the events touched, and of the queues whose DLQ they
    touched (a source's card shows its DLQ's count)."""
    touched = {e.queue for e in new if e.queue}
    touched |= {e.data.get("dlq") for e in new if e.kind == "message.moved_to_dlq"}
    touched |= {e.data.get("destination") for e in new if e.kind == "message.redriven"}
    queues = selectors.queues_by_name(workspace)
    for q in queues.values():
        if arns.queue_name(q.dead_letter_target_arn) in touched:
            touched.add(q.name)
    return [
        render(
            "workspace.html#queue-card",
            {
                "workspace": workspace,
                "o": selectors.queue_overview(queues[name], now=now, queues_by_name=queues),
            },
        )
        for name in sorted(n for n in touched if n in queues)
    ]


def _function_node(workspace: Workspace, function: Function) -> str:
    return render(
        "workspace.html#function-node",
        {"workspace": workspace, "f": selectors.function_overview(function)},
    )


def producer_node(workspace: Workspace, overview, *, error: str = "") -> str:
    return render(
        "workspace.html#producer-node",
        {"workspace": workspace, "p": overview, "producer_error": error},
    )


def database_node(workspace: Workspace, database, *, now: float) -> str:
    return render(
        "workspace.html#database-node",
        {
            "workspace": workspace,
            "d": selectors.DatabaseOverview(database, database.is_down(now)),
        },
    )


def _kms_changes(workspace: Workspace) -> list[str]:
    """What a KMS event changes on the card: its keys, requests and opt-in state, never its
    create and quota forms, so a push does not wipe what the learner is typing there."""
    context = {"workspace": workspace, **kms_context(workspace)}
    return [
        render(f"workspace.html#{name}", context)
        for name in ("kms-key-table", "kms-requests", "kms-opt-in")
    ]


def _pulses(workspace: Workspace, new: list[Event]) -> list[dict]:
    """Dots to animate along the canvas edges, counted per edge."""
    relevant = [
        e for e in new if e.kind in {"message.sent", "message.received", "message.moved_to_dlq"}
    ]
    pushed = [e for e in new if e.kind in SNS_PUSHES and _topic_of(e)]
    if not relevant and not pushed:
        return []
    queues = selectors.queues_by_name(workspace)
    producer_nodes = (
        {p.name: dom.node_id(p) for p in selectors.producers(workspace)}
        if any(str(e.data.get("sender") or "").startswith("producer:") for e in relevant)
        else {}
    )
    triggers: dict[int, list] = {}
    for m in selectors.mappings(workspace):
        triggers.setdefault(m.queue_id, []).append(m)
    edges: Counter = Counter()
    for e in relevant:
        queue = queues.get(e.queue)
        if queue is None:
            continue
        if e.kind == "message.sent":
            sender = str(e.data.get("sender") or "")
            # A topic's delivery is drawn with the other SNS pushes, below.
            if sender.startswith("producer:"):
                source = producer_nodes.get(sender.removeprefix("producer:"), dom.PRODUCER)
                edges[(source, dom.node_id(queue), "")] += 1
            elif not sender.startswith("sns:"):
                edges[(dom.PRODUCER, dom.node_id(queue), "")] += 1
        elif e.kind == "message.received":
            receiver = str(e.data.get("receiver") or "")
            candidates = triggers.get(queue.pk, [])
            if receiver == "console" or not candidates:
                continue
            chosen = next(
                (m for m in candidates if receiver == f"lambda:{m.function.name}"), candidates[0]
            )
            edges[(dom.node_id(queue), dom.node_id(chosen.function), "")] += 1
        else:
            dlq = queues.get(e.data.get("dlq"))
            if dlq is not None:
                edges[(dom.node_id(queue), dom.node_id(dlq), "")] += 1
    labels: dict = {}
    if pushed:
        sns_edges, labels = _sns_pulses(workspace, pushed, queues)
        edges.update(sns_edges)
    pulses = []
    for (a, b, k), n in edges.items():
        pulse = {"from": a, "to": b, "n": min(n, MAX_PULSES_PER_EDGE)}
        if k:
            pulse["kind"] = k
        if (a, b, k) in labels:
            pulse["label"] = labels[(a, b, k)]
        pulses.append(pulse)
    return pulses


# SNS pushes a copy along each subscription edge at once: a queue's message.sent from
# "sns:<topic>", a function invoked by it, an inbox receiving; a filtered-out copy
# starts along its edge and stops (kind "filtered").
SNS_PUSHES = {
    "message.sent",
    "invocation.started",
    "inbox.received",
    "subscription.filtered_out",
    "subscription.delivery_failed",
}


def _topic_of(e: Event) -> str:
    if e.kind == "message.sent":
        sender = str(e.data.get("sender") or "")
        return sender.removeprefix("sns:") if sender.startswith("sns:") else ""
    if e.kind == "invocation.started":
        source = str(e.data.get("source") or "")
        return source.removeprefix("sns:") if source.startswith("sns:") else ""
    if e.kind == "inbox.received":
        return (
            str(e.data.get("topic") or "") if e.data.get("message_type") == "Notification" else ""
        )
    return e.subject.removeprefix("topic:")  # subscription.filtered_out / delivery_failed


def _sns_pulses(workspace: Workspace, pushed: list[Event], queues: dict) -> tuple[Counter, dict]:
    topics = selectors.topics_by_name(workspace)
    all_functions = selectors.functions(workspace)
    boxes = selectors.inboxes(workspace)
    target_of = selectors.subscriber_nodes(workspace, queues, all_functions, boxes)
    functions = {f.name: f for f in all_functions}
    boxes_by_id = {b.pk: b for b in boxes}
    edges: Counter = Counter()
    labels: dict = {}
    for e in pushed:
        topic = topics.get(_topic_of(e))
        if topic is None:
            continue
        kind = ""
        if e.kind == "message.sent":
            target = queues.get(e.queue)
        elif e.kind == "invocation.started":
            target = functions.get(e.subject.removeprefix("function:"))
        elif e.kind == "inbox.received":
            target = boxes_by_id.get(e.data.get("inbox"))
        else:
            target = target_of(str(e.data.get("protocol", "")), str(e.data.get("endpoint", "")))
            kind, label = _stopped(e)
            if target is not None:
                labels[(dom.node_id(topic), dom.node_id(target), kind)] = label
        if target is not None:
            edges[(dom.node_id(topic), dom.node_id(target), kind)] += 1
    return edges, labels


def _stopped(e: Event) -> tuple[str, str]:
    """A copy that did not arrive: its pulse's kind and the words shown where it stops."""
    d = e.data
    if e.kind == "subscription.filtered_out":
        return "filtered", f"filtered out: {str(d.get('reason', ''))[:70]}"
    when = simtime(d["next_at"]) if d.get("next_at") else ""
    attempt = f"attempt {d.get('attempt')} of {int(d.get('attempts') or 0):,} failed"
    return "retry", f"{attempt} · retry at {when}" if when else f"{attempt} · no retry"
