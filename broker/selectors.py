"""Read-only queries for the playground's pages: what a page shows, nothing more.

Selectors never change state; services (`sqs`, `lambdas`, `clock`) do. Every
query here is bounded: counts come from `sqs.counts` (the `(queue, visible_at)`
index), lists are capped, event streams read by `(workspace, …, id)` indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker import arns, errors, events, sqs
from broker.kms import encryption
from broker.models import (
    Event,
    EventSourceMapping,
    Function,
    Invocation,
    Message,
    MessageGroup,
    MoveTask,
    Queue,
    Subscription,
    Topic,
    Workspace,
)

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

    source: Queue | Topic | None  # None: the producer (your code, the console)
    target: Queue | Function
    kind: str  # "send", "trigger", "redrive", "subscription"
    enabled: bool = True


@dataclass(frozen=True)
class FunctionOverview:
    function: Function
    running: int
    last: Invocation | None  # the newest finished invocation
    failing_polls: list[EventSourceMapping]  # its triggers whose poller cannot receive


@dataclass
class Pipeline:
    queues: list[QueueOverview] = field(default_factory=list)  # not a DLQ of anything
    dead_letter_queues: list[QueueOverview] = field(default_factory=list)
    functions: list[FunctionOverview] = field(default_factory=list)
    mappings: list[EventSourceMapping] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
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
    functions_by_arn = {o.function.arn: o.function for o in result.functions}
    for subscription in Subscription.objects.filter(
        topic__workspace=workspace, protocol__in=("sqs", "lambda"), confirmed=True
    ):
        target = (
            by_name.get(arns.queue_name(subscription.endpoint))
            if subscription.protocol == "sqs"
            else functions_by_arn.get(subscription.endpoint.removesuffix(":$LATEST"))
        )
        if target is not None:
            result.edges.append(Edge(topics_by_pk[subscription.topic_id], target, "subscription"))
    result.mappings = mappings(workspace)
    for m in result.mappings:
        result.edges.append(Edge(m.queue, m.function, "trigger", m.enabled))
    return result


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
    return list(Workspace.objects.filter(local_convention=True).order_by("account_id"))


def last_event_id(workspace: Workspace) -> int:
    last = Event.objects.filter(workspace=workspace).order_by("-id").values_list("id", flat=True)
    return last.first() or 0


def events_after(workspace_id: int, after: int, *, limit: int) -> list[Event]:
    """New events of a workspace, oldest first: what a live page has not seen yet."""
    return list(
        Event.objects.filter(workspace_id=workspace_id, id__gt=after).order_by("id")[:limit]
    )
