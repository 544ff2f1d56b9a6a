"""ARNs and queue URLs: every one the playground answers is built here, and every one
it is given is read here.

An ARN is `arn:aws:<service>:<region>:<account>:<resource>`; the resource keeps any
further colons (`function:orders`, `event-source-mapping:<uuid>`, `key/<id>`). A queue
URL is `<endpoint>/<account>/<queue name>`; only its last two path segments matter
(sqs.md §1). SNS's topic and subscription ARNs follow the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

PARTITION = "aws"


@dataclass(frozen=True)
class Arn:
    service: str
    region: str
    account: str
    resource: str


def build(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def parse(arn: str) -> Arn | None:
    """The parts of an ARN of this partition, or None for anything else."""
    parts = (arn or "").split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[1] != PARTITION:
        return None
    return Arn(*parts[2:])


def of(workspace, service: str, resource: str) -> str:
    """The ARN of a resource of `workspace` (its region and account)."""
    return build(service, workspace.region, workspace.account_id, resource)


def queue(workspace, name: str) -> str:
    return of(workspace, "sqs", name)


def topic(workspace, name: str) -> str:
    return of(workspace, "sns", name)


def function(workspace, name: str) -> str:
    return of(workspace, "lambda", f"function:{name}")


def event_source_mapping(workspace, uuid) -> str:
    return of(workspace, "lambda", f"event-source-mapping:{uuid}")


def kms_key(workspace, key_id: str) -> str:
    return of(workspace, "kms", f"key/{key_id}")


def kms_alias(workspace, alias: str) -> str:
    return of(workspace, "kms", alias)


def account_root(account_id: str) -> str:
    """The IAM principal that stands for a whole account."""
    return build("iam", "", account_id, "root")


def queue_name(arn: str) -> str:
    """The queue name an SQS ARN ends with ("" for none)."""
    return (arn or "").rsplit(":", 1)[-1]


def queue_url(endpoint: str, account_id: str, name: str, region: str | None = None) -> str:
    """`endpoint` is scheme://host[:port], with or without the trailing slash.

    A queue of the playground's own region has the short URL; one of another region
    carries it, as LocalStack's path-style URLs do (`/queue/<region>/<account>/<name>`):
    every host here is the one endpoint, so the path is where the region can go."""
    endpoint = endpoint.rstrip("/")
    if region and region != settings.PLAYGROUND_REGION:
        return f"{endpoint}/queue/{region}/{account_id}/{name}"
    return f"{endpoint}/{account_id}/{name}"


def queue_url_region(url: str) -> str | None:
    """The region a path-style queue URL names (`…/queue/<region>/<account>/<name>`),
    or None for a URL that names none."""
    try:
        path = urlsplit(url).path if "://" in (url or "") else (url or "").split("?")[0]
    except ValueError:
        return None
    parts = [p for p in path.split("/") if p]
    return parts[-3] if len(parts) >= 4 and parts[-4] == "queue" else None


def queue_url_parts(url: str) -> tuple[str, str] | None:
    """(account part, queue name) of a queue URL or path, or None with fewer than two
    path segments."""
    url = url or ""
    try:
        path = urlsplit(url).path if "://" in url else url.split("?")[0]
    except ValueError:  # a host urlsplit cannot read, such as an unclosed "[": no queue
        return None
    parts = [p for p in path.split("/") if p]
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None
