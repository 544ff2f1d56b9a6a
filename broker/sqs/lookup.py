"""Finding a queue of a workspace by name, queue URL or ARN, as the SQS actions name
them; QueueDoesNotExist (or InvalidAddress for a URL of another shape) otherwise.
A workspace is one region: a queue of another region is not found here.
"""

from __future__ import annotations

from broker import arns, errors, statements, workspaces
from broker.models import Queue

# Every SQS call that names a queue runs it: compiled once (broker/statements.py).
_by_name = statements.Select(
    lambda workspace_id, name: Queue.objects.filter(workspace_id=workspace_id, name=name)[:1],
    workspace_id=-1,
    name="\x00",
)


def queue_by_arn(workspace, arn: str, *, any_region: bool = False) -> Queue | None:
    """The workspace's queue an SQS ARN names, or None (another account or region, no
    such queue). With `any_region`, a queue of the account in another region too: SNS
    delivers across regions, a redrive policy or a trigger does not."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "sqs" or parsed.account != workspace.account_id:
        return None
    if parsed.region != workspace.region and not any_region:
        return None
    where = workspaces.arn_scope(workspace, parsed)
    return Queue.objects.filter(name=parsed.resource, **where).select_related("workspace").first()


def get_queue(workspace, name: str) -> Queue:
    queue = _by_name.first(workspace_id=workspace.pk, name=name)
    if queue is None:
        raise errors.QueueDoesNotExist()
    queue.workspace = workspace
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
    # A URL that names a region names that region's queue; the short form names none,
    # and is read in the region of the request, as LocalStack reads its legacy URLs.
    if arns.queue_url_region(url) not in (None, workspace.region):
        raise errors.QueueDoesNotExist()
    return get_queue(workspace, parts[1])
