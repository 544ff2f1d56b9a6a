"""Element ids of the pipeline's nodes: built here and nowhere else.

The canvas draws edges and animates dots between elements by id, and the pushed
node fragments replace elements by id, so the template tag `node_id`, the edges and
the pulses all come from `node_id`.
"""

from __future__ import annotations

from broker import selectors
from broker.models import Database, Function, Inbox, Producer, Queue, Topic

PRODUCER = "node-producer"


def node_id(resource: Queue | Function | Topic | Inbox | Database | Producer | None) -> str:
    """`queue-3`, `function-7`, `topic-2`, `inbox-4`, `database-1`, `producer-5`; None is
    your code (the console, boto3)."""
    if resource is None:
        return PRODUCER
    if isinstance(resource, Queue):
        return f"queue-{resource.pk}"
    if isinstance(resource, Function):
        return f"function-{resource.pk}"
    if isinstance(resource, Topic):
        return f"topic-{resource.pk}"
    if isinstance(resource, Inbox):
        return f"inbox-{resource.pk}"
    if isinstance(resource, Database):
        return f"database-{resource.pk}"
    if isinstance(resource, Producer):
        return f"producer-{resource.pk}"
    raise TypeError(f"no node for {resource!r}")


def edge(e: selectors.Edge) -> dict:
    return {
        "source": node_id(e.source),
        "target": node_id(e.target),
        "kind": e.kind,
        "enabled": e.enabled,
    }
