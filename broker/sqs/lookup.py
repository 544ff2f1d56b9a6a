"""Finding a queue of a workspace by name, queue URL or ARN, as the SQS actions name
them; QueueDoesNotExist (or InvalidAddress for a URL of another shape) otherwise.
"""

from __future__ import annotations

from broker import arns, errors, workspaces
from broker.models import Queue


def queue_by_arn(workspace, arn: str) -> Queue | None:
    """The workspace's queue an SQS ARN names, or None (another account, no such queue)."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "sqs" or parsed.account != workspace.account_id:
        return None
    return (
        Queue.objects.filter(workspace=workspace, name=parsed.resource)
        .select_related("workspace")
        .first()
    )


def get_queue(workspace, name: str) -> Queue:
    queue = Queue.objects.filter(workspace=workspace, name=name).select_related("workspace").first()
    if queue is None:
        raise errors.QueueDoesNotExist()
    return queue


def get_queue_by_url(workspace, url: str) -> Queue:
    """Resolve a queue URL (only its last two path segments matter, sqs.md §1).

    An account part that is not 12 digits (`/queue/orders`, the form some other
    emulators use) is InvalidAddress, as AWS answers it; a URL with no path at
    all, or another account's, is a queue that does not exist. A bare queue name
    (no "/") is the caller's own queue of that name: AWS accepts it, and test suites
    written against AWS pass names.
    """
    if url and "/" not in url:
        return get_queue(workspace, url)
    parts = arns.queue_url_parts(url)
    if parts is not None and not workspaces.ACCOUNT_ID_RE.match(parts[0]):
        raise errors.InvalidAddress(f"The address {url[:300]} is not valid for this endpoint.")
    if parts is None or parts[0] != workspace.account_id:
        raise errors.QueueDoesNotExist()
    return get_queue(workspace, parts[1])
