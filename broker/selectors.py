"""Read-only queries for the playground's pages: what a page shows, nothing more.

Selectors never change state; services (`sqs`, `lambdas`, `clock`) do. Every
query here is bounded: counts come from `sqs.counts` (the `(queue, visible_at)`
index), lists are capped, event streams read by `(workspace, …, id)` indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from broker import arns, errors, events, sqs
from broker.kms import encryption
from broker.models import (
    Database,
    Event,
    EventSourceMapping,
    Function,
    Inbox,
    InboxMessage,
    Invocation,
    Message,
    MessageGroup,
    MoveTask,
    Producer,
    Queue,
    Subscription,
    Topic,
    Workspace,
)
from broker.sns import inboxes as sns_inboxes

MESSAGE_TABLE_LIMIT = 50
API_FEED_LIMIT = 40
TIMELINE_LIMIT = 500
LOG_LIMIT = 200
INVOCATION_LIMIT = 20

MESSAGE_KINDS = (
    "message.sent",
    "message.received",
    "message.visible",
    "message.visibility_changed",
    "message.deleted",
    "message.moved_to_dlq",
    "message.deduplicated",
    "message.expired",
    "message.redriven",
)
LANE_LIMIT = 12  # groups shown as lanes
LANE_DEPTH = 8  # messages shown per lane


@dataclass(frozen=True)
class QueueOverview:
    queue: Queue
    visible: int
    in_flight: int
    delayed: int
    is_dlq: bool
    dead_letter_queue: Queue | None = None
    dlq_total: int = 0  # messages waiting in this queue's dead-letter queue

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed

    @property
    def at_in_flight_limit(self) -> bool:
        return self.in_flight >= sqs.in_flight_limit(self.queue)


@dataclass(frozen=True)
class Edge:
    """A connection of the pipeline, between domain objects (a page draws it)."""

    source: Queue | Topic | Function | Producer | None  # None: your code, the console
    target: Queue | Function | Inbox | Database
    kind: str  # "send", "trigger", "redrive", "subscription", "writes"
    enabled: bool = True


@dataclass(frozen=True)
class FunctionOverview:
    function: Function
    running: int
    last: Invocation | None  # the newest finished invocation
    failing_polls: list[EventSourceMapping]  # its triggers whose poller cannot receive


@dataclass(frozen=True)
class DatabaseOverview:
    database: Database
    down: bool  # now, on the workspace clock

    @property
    def latency_ms(self) -> float:
        return self.database.latency * 1000


LOST_REASONS = {
    "TooManyRequestsException": "throttled: the function was busy",
    "FunctionError": "the function failed",
}


@dataclass(frozen=True)
class ProducerOverview:
    producer: Producer
    target: Queue | Topic | Function | None  # None: it is gone
    in_peak: bool  # now, on the workspace clock

    @property
    def lost_reason(self) -> str:
        """Its last loss in a few words (the whole error is the node's tooltip)."""
        code = self.producer.last_error.partition(":")[0]
        return LOST_REASONS.get(code, code)

    @property
    def target_kind(self) -> str:
        return {Queue: "queue", Topic: "topic", Function: "function"}.get(type(self.target), "")


@dataclass
class Pipeline:
    queues: list[QueueOverview] = field(default_factory=list)  # not a DLQ of anything
    dead_letter_queues: list[QueueOverview] = field(default_factory=list)
    functions: list[FunctionOverview] = field(default_factory=list)
    databases: list[DatabaseOverview] = field(default_factory=list)
    producers: list[ProducerOverview] = field(default_factory=list)
    mappings: list[EventSourceMapping] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    inboxes: list[Inbox] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


@dataclass(frozen=True)
class MessageRow:
    message: Message
    state: str  # "visible", "in_flight", "delayed"
    body: str = ""  # plaintext, as an authorised receiver reads it
    attributes: dict = field(default_factory=dict)
    locked: str = ""  # why it cannot be read (its KMS key is disabled or gone)


def plaintext(m: Message, opener: encryption.Opener) -> tuple[str, dict, str]:
    """(body, attributes, "") or ("", {}, why not) for a possibly sealed message."""
    try:
        body, attributes = opener.open(m)
    except errors.KmsFailure as exc:
        return "", {}, exc.message
    return body, attributes, ""


def _row(m: Message, now: float, opener: encryption.Opener) -> MessageRow:
    return MessageRow(m, message_state(m, now=now), *plaintext(m, opener))


def queue_overview(
    queue: Queue, *, now: float, queues_by_name: dict | None = None
) -> QueueOverview:
    """One queue with its live counts and where its redrive policy points."""
    c = sqs.counts(queue, now=now)
    if queues_by_name is None:
        queues_by_name = {q.name: q for q in Queue.objects.filter(workspace_id=queue.workspace_id)}
    dlq = queues_by_name.get(arns.queue_name(queue.dead_letter_target_arn))
    arn = queue.arn
    is_dlq = any(q.dead_letter_target_arn == arn for q in queues_by_name.values())
    dlq_total = sqs.counts(dlq, now=now).total if dlq is not None else 0
    return QueueOverview(
        queue=queue,
        visible=c.visible,
        in_flight=c.in_flight,
        delayed=c.delayed,
        is_dlq=is_dlq,
        dead_letter_queue=dlq,
        dlq_total=dlq_total,
    )


def pipeline(workspace: Workspace, *, now: float) -> Pipeline:
    """Producer → queues → functions, queues → DLQs: nodes and edges for the canvas."""
    queues = list(Queue.objects.filter(workspace=workspace).select_related("workspace"))
    by_name = {q.name: q for q in queues}
    result = Pipeline()
    for q in queues:
        overview = queue_overview(q, now=now, queues_by_name=by_name)
        (result.dead_letter_queues if overview.is_dlq else result.queues).append(overview)
        if not overview.is_dlq:
            result.edges.append(Edge(None, q, "send"))
        if overview.dead_letter_queue is not None:
            result.edges.append(Edge(q, overview.dead_letter_queue, "redrive"))
    result.topics = list(Topic.objects.filter(workspace=workspace).select_related("workspace"))
    topics_by_pk = {t.pk: t for t in result.topics}
    result.functions = [function_overview(f) for f in functions(workspace)]
    result.inboxes = inboxes(workspace)
    targets = subscriber_nodes(
        workspace, by_name, [o.function for o in result.functions], result.inboxes
    )
    for subscription in Subscription.objects.filter(topic__workspace=workspace):
        target = targets(subscription.protocol, subscription.endpoint)
        if target is not None:
            result.edges.append(
                Edge(
                    topics_by_pk[subscription.topic_id],
                    target,
                    "subscription",
                    enabled=subscription.confirmed,  # pending: drawn greyed
                )
            )
    result.mappings = mappings(workspace)
    for m in result.mappings:
        result.edges.append(Edge(m.queue, m.function, "trigger", m.enabled))
    nodes_by_arn = {
        **{q.arn: q for q in queues},
        **{t.arn: t for t in result.topics},
        **{o.function.arn: o.function for o in result.functions},
    }
    for p in producers(workspace):
        target = nodes_by_arn.get(p.target_arn)
        result.producers.append(ProducerOverview(p, target, _in_peak(p, now)))
        if target is not None:
            result.edges.append(Edge(p, target, "send", p.enabled))
    result.databases = [DatabaseOverview(d, d.is_down(now)) for d in databases(workspace)]
    databases_by_name = {o.database.name: o.database for o in result.databases}
    for o in result.functions:
        if o.function.database in databases_by_name:
            result.edges.append(Edge(o.function, databases_by_name[o.function.database], "writes"))
    return result


def subscriber_nodes(workspace: Workspace, queues_by_name: dict, functions, boxes):
    """A function (protocol, endpoint) → the pipeline node a subscription reaches, or None
    (a URL outside the workspace, a queue or function that is gone)."""
    functions_by_arn = {f.arn: f for f in functions}
    boxes_by_key = {(b.kind, b.address): b for b in boxes}

    def target(protocol: str, endpoint: str):
        if protocol == "sqs":  # None for a queue of another region
            queue = queues_by_name.get(arns.queue_name(endpoint))
            return queue if queue is not None and queue.arn == endpoint else None
        if protocol == "lambda":
            return functions_by_arn.get(endpoint.removesuffix(":$LATEST"))
        if protocol in ("http", "https"):
            name = sns_inboxes.request_inbox_name(workspace, endpoint)
            return boxes_by_key.get((Inbox.Kind.HTTP, name)) if name else None
        kind = Inbox.Kind.SMS if protocol == "sms" else Inbox.Kind.EMAIL
        return boxes_by_key.get((kind, endpoint))

    return target


def function_overview(function: Function) -> FunctionOverview:
    """A function's node: how many copies run now, its last run, polls that fail."""
    runs = Invocation.objects.filter(function=function)
    return FunctionOverview(
        function=function,
        running=runs.filter(status=Invocation.Status.RUNNING).count(),
        last=runs.exclude(status=Invocation.Status.RUNNING).first(),
        failing_polls=list(function.mappings.exclude(poll_error="").select_related("queue")),
    )


def mappings(workspace: Workspace) -> list[EventSourceMapping]:
    """Every trigger of the workspace, by queue and function name."""
    return list(
        EventSourceMapping.objects.filter(workspace=workspace)
        .select_related("queue", "function")
        .order_by("queue__name", "function__name")
    )


def mapping(workspace: Workspace, uuid) -> EventSourceMapping | None:
    return (
        EventSourceMapping.objects.filter(workspace=workspace, uuid=uuid)
        .select_related("queue", "function")
        .first()
    )


def workspace_by_slug(slug: str) -> Workspace | None:
    return Workspace.objects.filter(slug=slug).first()


def workspace_by_id(pk) -> Workspace | None:
    return Workspace.objects.filter(pk=pk).first() if pk else None


def same_account(workspace_id, workspace: Workspace) -> bool:
    """Whether the workspace with this id is `workspace`'s account (in another region)."""
    return Workspace.objects.filter(pk=workspace_id, account_id=workspace.account_id).exists()


def account_regions(workspace: Workspace) -> list[Workspace]:
    """Every region's workspace of the workspace's account, the playground's region
    first, then by name."""
    return sorted(
        Workspace.objects.filter(account_id=workspace.account_id),
        key=lambda w: (w.region != settings.PLAYGROUND_REGION, w.region),
    )


def queue(workspace: Workspace, name: str) -> Queue | None:
    return Queue.objects.filter(workspace=workspace, name=name).select_related("workspace").first()


def queues_by_name(workspace: Workspace) -> dict[str, Queue]:
    return {q.name: q for q in Queue.objects.filter(workspace=workspace)}


def topics_by_name(workspace: Workspace) -> dict[str, Topic]:
    return {t.name: t for t in Topic.objects.filter(workspace=workspace)}


def function(workspace: Workspace, name: str) -> Function | None:
    return Function.objects.filter(workspace=workspace, name=name).first()


def functions_named(workspace: Workspace, names) -> list[Function]:
    return list(Function.objects.filter(workspace=workspace, name__in=names))


def queues(workspace: Workspace) -> list[Queue]:
    return list(Queue.objects.filter(workspace=workspace))


def _in_peak(producer: Producer, now: float) -> bool:
    from broker.pipeline import producers as schedule  # it imports the services

    return producer.enabled and schedule.in_peak(producer, now)


def producers(workspace: Workspace) -> list[Producer]:
    return list(Producer.objects.filter(workspace=workspace).select_related("workspace"))


def producer(workspace: Workspace, name: str) -> Producer | None:
    return Producer.objects.filter(workspace=workspace, name=name).first()


def producer_overviews(workspace: Workspace, names, *, now: float) -> list[ProducerOverview]:
    """The named producers' nodes (their targets looked up one by one: few change at once)."""
    from broker.pipeline import producers as calls

    found = Producer.objects.filter(workspace=workspace, name__in=names).select_related("workspace")
    return [ProducerOverview(p, calls.target_of(p), _in_peak(p, now)) for p in found]


def producer_targets(workspace: Workspace) -> list[tuple[str, list[tuple[str, str]]]]:
    """What a producer can call, grouped for a select: (label, [(ARN, name), …])."""
    return [
        ("Queues", [(q.arn, q.name) for q in queues(workspace)]),
        ("Topics", [(t.arn, t.name) for t in topics_by_name(workspace).values()]),
        ("Functions (a direct call)", [(f.arn, f.name) for f in functions(workspace)]),
    ]


def databases(workspace: Workspace) -> list[Database]:
    return list(Database.objects.filter(workspace=workspace).select_related("workspace"))


def database(workspace: Workspace, name: str) -> Database | None:
    return Database.objects.filter(workspace=workspace, name=name).first()


def databases_written_by(workspace: Workspace, functions) -> list[Database]:
    """The databases these functions write to (the nodes their runs change)."""
    names = {f.database for f in functions if f.database}
    return list(Database.objects.filter(workspace=workspace, name__in=names)) if names else []


def functions(workspace: Workspace) -> list[Function]:
    return list(Function.objects.filter(workspace=workspace))


def message_state(message: Message, *, now: float) -> str:
    if message.visible_at <= now:
        return "visible"
    return "in_flight" if message.receive_count else "delayed"


def message_table(
    queue: Queue, *, now: float, limit: int = MESSAGE_TABLE_LIMIT
) -> list[MessageRow]:
    """The first `limit` messages of a queue in the order they become receivable."""
    rows = Message.objects.filter(queue=queue).order_by("visible_at", "pk")[:limit]
    opener = encryption.Opener(queue)
    return [_row(m, now, opener) for m in rows]


@dataclass(frozen=True)
class Lane:
    """One FIFO message group: its first messages in order, and whether it is blocked."""

    group_id: str
    rows: list[MessageRow]
    ready_at: float
    blocked: bool  # a message of it is in flight: nothing more of it can be received


def fifo_lanes(
    queue: Queue, *, now: float, limit: int = LANE_LIMIT, depth: int = LANE_DEPTH
) -> list[Lane]:
    """The queue's message groups (readable ones first), `depth` messages each."""
    lanes, opener = [], encryption.Opener(queue)
    for group in MessageGroup.objects.filter(queue=queue).order_by("ready_at", "group_id")[:limit]:
        rows = [
            _row(m, now, opener)
            for m in Message.objects.filter(queue=queue, group_id=group.group_id).order_by("pk")[
                :depth
            ]
        ]
        lanes.append(
            Lane(
                group.group_id,
                rows,
                group.ready_at,
                blocked=any(r.state == "in_flight" for r in rows),
            )
        )
    return lanes


def group_count(queue: Queue) -> int:
    return MessageGroup.objects.filter(queue=queue).count()


def find_message(workspace: Workspace, message_id: str) -> Message | None:
    return (
        Message.objects.filter(message_id=message_id, queue__workspace=workspace)
        .select_related("queue")
        .first()
    )


def message_timeline(workspace: Workspace, message_id: str, *, after: int = 0) -> list[Event]:
    """Everything that happened to one message, oldest first (kept after deletion)."""
    return list(
        Event.objects.filter(workspace=workspace, message_id=message_id, id__gt=after).order_by(
            "id"
        )[:TIMELINE_LIMIT]
    )


def api_feed(workspace: Workspace, *, after: int = 0, limit: int = API_FEED_LIMIT) -> list[Event]:
    """The newest `api.call` events, newest first."""
    return list(
        Event.objects.filter(workspace=workspace, kind="api.call", id__gt=after).order_by("-id")[
            :limit
        ]
    )


KMS_REQUESTS_LIMIT = 5


def kms_requests(workspace: Workspace, *, limit: int = KMS_REQUESTS_LIMIT) -> list[Event]:
    """The newest requests SQS made of KMS for a principal's data key, newest first."""
    return list(
        Event.objects.filter(
            workspace=workspace, kind__in=("key.data_key_generated", "key.data_key_decrypted")
        ).order_by("-id")[:limit]
    )


def function_log(function: Function, *, after: int = 0, limit: int = LOG_LIMIT) -> list[Event]:
    """The function's `function.logged` lines, oldest first (the newest `limit` of them)."""
    lines = list(
        Event.objects.filter(
            workspace_id=function.workspace_id,
            subject=events.subject("function", function.name),
            kind="function.logged",
            id__gt=after,
        ).order_by("-id")[:limit]
    )
    lines.reverse()
    return lines


def invocations(function: Function, *, limit: int = INVOCATION_LIMIT) -> list[Invocation]:
    return list(Invocation.objects.filter(function=function)[:limit])


# Instances the function page draws as lanes, and record chips per lane.
INSTANCE_LIMIT, CHIP_LIMIT = 50, 12


@dataclass(frozen=True)
class InstanceLane:
    """One running instance of a function and the records of its batch."""

    invocation: Invocation
    message_ids: list[str]
    more_records: int


@dataclass(frozen=True)
class TriggerScale:
    mapping: EventSourceMapping
    cap: int  # batches it may run at once now
    window_closes_at: float | None


@dataclass(frozen=True)
class Concurrency:
    lanes: list[InstanceLane]
    running: int
    reserved: int | None
    throttles: int
    triggers: list[TriggerScale]

    @property
    def more_lanes(self) -> int:
        return self.running - len(self.lanes)


def function_concurrency(function: Function, *, now: float) -> Concurrency:
    """The function's running instances as lanes, its limits and its throttles."""
    from broker.lambdas import concurrency_cap  # lambdas imports the models only

    running = Invocation.objects.filter(function=function, status=Invocation.Status.RUNNING)
    lanes = []
    for invocation in running.order_by("started_at", "id")[:INSTANCE_LIMIT]:
        ids = invocation.message_ids
        lanes.append(InstanceLane(invocation, ids[:CHIP_LIMIT], max(0, len(ids) - CHIP_LIMIT)))
    throttles = Event.objects.filter(
        workspace_id=function.workspace_id,
        subject=events.subject("function", function.name),
        kind="invocation.throttled",
    ).count()
    triggers = [
        TriggerScale(
            mapping,
            concurrency_cap(mapping, now=now),
            mapping.window_opened_at + mapping.maximum_batching_window
            if mapping.window_opened_at is not None
            else None,
        )
        for mapping in function_triggers(function)
    ]
    return Concurrency(lanes, running.count(), function.reserved_concurrency, throttles, triggers)


def function_triggers(function: Function) -> list[EventSourceMapping]:
    return list(
        EventSourceMapping.objects.filter(function=function)
        .select_related("queue")
        .order_by("queue__name")
    )


def queue_triggers(queue: Queue) -> list[EventSourceMapping]:
    return list(
        EventSourceMapping.objects.filter(queue=queue)
        .select_related("function")
        .order_by("function__name")
    )


def dead_letter_sources(queue: Queue) -> list[Queue]:
    """The queues whose redrive policy points at this one."""
    return list(
        Queue.objects.filter(workspace_id=queue.workspace_id, dead_letter_target_arn=queue.arn)
    )


def move_tasks(queue: Queue, *, limit: int = 5) -> list[MoveTask]:
    """The newest redrive tasks out of a dead-letter queue."""
    return list(MoveTask.objects.filter(source=queue).order_by("-started_at", "-pk")[:limit])


def redrive_destinations(queue: Queue) -> list[Queue]:
    """Queues a dead-letter queue's messages may be moved to (same type, not itself)."""
    return [
        q
        for q in Queue.objects.filter(workspace_id=queue.workspace_id).exclude(pk=queue.pk)
        if q.is_fifo == queue.is_fifo
    ]


def local_workspaces() -> list[Workspace]:
    return list(Workspace.objects.filter(local_convention=True).order_by("account_id", "region"))


def last_event_id(workspace: Workspace) -> int:
    last = Event.objects.filter(workspace=workspace).order_by("-id").values_list("id", flat=True)
    return last.first() or 0


def events_after(workspace_id: int, after: int, *, limit: int) -> list[Event]:
    """New events of a workspace, oldest first: what a live page has not seen yet."""
    return list(
        Event.objects.filter(workspace_id=workspace_id, id__gt=after).order_by("id")[:limit]
    )


# --- SNS -------------------------------------------------------------------------

TOPIC_MESSAGE_LIMIT = 10
TOPIC_EVENT_WINDOW = 1000  # the newest events of a topic its page reads
INBOX_MESSAGE_LIMIT = 30
DELIVERY_KINDS = (
    "topic.published",
    "subscription.filtered_out",
    "subscription.delivery_failed",
    "subscription.delivered",
    "subscription.dead_lettered",
    "subscription.discarded",
)


def topic(workspace: Workspace, name: str) -> Topic | None:
    return Topic.objects.filter(workspace=workspace, name=name).select_related("workspace").first()


def topic_subscriptions(topic: Topic) -> list[Subscription]:
    subscriptions = list(Subscription.objects.filter(topic=topic))
    for s in subscriptions:
        s.topic = topic
    return subscriptions


@dataclass(frozen=True)
class DeliveryOutcome:
    """Where one published message stands for one subscription."""

    subscription: str  # its uuid
    state: str  # delivered, sending, filtered_out, retrying, dead_lettered, discarded
    detail: str = ""
    attempt: int = 0
    attempts: int = 0
    next_at: float | None = None


@dataclass
class PublishedMessage:
    message_id: str
    at: float
    outcomes: dict[str, DeliveryOutcome] = field(default_factory=dict)  # by subscription


def _outcome(e: Event) -> DeliveryOutcome:
    d = e.data
    uuid = str(d.get("subscription", ""))
    if e.kind == "subscription.filtered_out":
        return DeliveryOutcome(uuid, "filtered_out", str(d.get("reason", "")))
    if e.kind == "subscription.delivered":
        return DeliveryOutcome(uuid, "delivered", attempt=int(d.get("attempt") or 1))
    if e.kind == "subscription.dead_lettered":
        return DeliveryOutcome(uuid, "dead_lettered", str(d.get("queue", "")))
    if e.kind == "subscription.discarded":
        return DeliveryOutcome(uuid, "discarded", str(d.get("reason", "")))
    return DeliveryOutcome(  # delivery_failed: a retry waits, or the delivery ends next
        uuid,
        "retrying",
        str(d.get("reason", "")),
        attempt=int(d.get("attempt") or 1),
        attempts=int(d.get("attempts") or 1),
        next_at=d.get("next_at"),
    )


def topic_messages(topic: Topic, *, limit: int = TOPIC_MESSAGE_LIMIT) -> list[PublishedMessage]:
    """The topic's latest publishes, newest first, each with every subscription's outcome,
    read from the newest TOPIC_EVENT_WINDOW delivery events of the topic."""
    recent = list(
        Event.objects.filter(
            workspace_id=topic.workspace_id,
            subject=events.subject("topic", topic.name),
            kind__in=DELIVERY_KINDS,
        ).order_by("-id")[:TOPIC_EVENT_WINDOW]
    )
    recent.reverse()
    published: dict[str, PublishedMessage] = {}
    # topic.published is recorded last in a publish, after its first attempts' events.
    for e in recent:
        if e.kind == "topic.published":
            message_id = str(e.data.get("message_id", ""))
            message = published[message_id] = PublishedMessage(message_id, e.at)
            for uuid in e.data.get("delivered_to", []):
                message.outcomes[uuid] = DeliveryOutcome(uuid, "delivered", attempt=1)
            for uuid in e.data.get("sending_to", []):
                message.outcomes[uuid] = DeliveryOutcome(uuid, "sending")
    for e in recent:
        if e.kind == "topic.published":
            continue
        message = published.get(str(e.data.get("message_id", "")))
        if message is None:
            continue  # published before the window
        outcome = _outcome(e)
        if e.kind == "subscription.delivery_failed" and e.data.get("next_at") is None:
            continue  # its dead_lettered or discarded event follows and says where it went
        message.outcomes[outcome.subscription] = outcome
    return list(reversed(published.values()))[:limit]


def inboxes(workspace: Workspace) -> list[Inbox]:
    return list(Inbox.objects.filter(workspace=workspace))


def inbox(workspace: Workspace, kind: str, address: str) -> Inbox | None:
    return (
        Inbox.objects.filter(workspace=workspace, kind=kind, address=address)
        .select_related("workspace")
        .first()
    )


def inbox_messages(inbox: Inbox, *, limit: int = INBOX_MESSAGE_LIMIT) -> list[InboxMessage]:
    return list(InboxMessage.objects.filter(inbox=inbox)[:limit])
