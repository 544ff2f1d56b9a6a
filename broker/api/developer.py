"""`/_aws/sqs/messages`: look at a queue's messages without receiving them.

The developer endpoint other local emulators offer (LocalStack's), so test suites
that call it run unchanged: `GET` or `POST` with `QueueUrl` (or the path
`/_aws/sqs/messages/<region>/<account>/<queue>`), optional `ShowInvisible` and
`ShowDelayed`. It answers a ReceiveMessage response in XML, or with
`Accept: application/json` the same document as JSON. An SDK client can also use
the URL as its endpoint and call ReceiveMessage (either protocol, signed as
usual); anything else is `InvalidRequest`. Nothing changes: no receive count, no
visibility, no event. Each message carries every system attribute, plus
`IsVisible` / `IsDelayed` when invisible or delayed ones were asked for.

Unsigned requests reach only local-convention workspaces (the accounts scripts
reach with the secret `test`), and only while that convention is switched on.
"""

from __future__ import annotations

import json
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import HttpResponse

from broker import arns, errors, sqs, workspaces
from broker import clock as clocks
from broker.api import query, sqs_json, views
from broker.api.errors import json_error, query_error
from broker.models import Workspace

TRUE = {"true", "1"}


def _message(p: sqs.Peeked, show_invisible: bool, show_delayed: bool) -> dict:
    r = p.received
    attributes = dict(r.system_attributes)
    if show_invisible:
        attributes["IsVisible"] = "true" if p.visible else "false"
    if show_delayed:
        attributes["IsDelayed"] = "true" if p.delayed else "false"
    message = {
        "MessageId": r.message_id,
        "ReceiptHandle": r.receipt_handle,
        "MD5OfBody": r.md5_of_body,
        "Body": r.body,
        "Attributes": attributes,
    }
    if r.message_attributes:
        message["MD5OfMessageAttributes"] = r.md5_of_attributes
        message["MessageAttributes"] = r.message_attributes
    return message


def _as_document(messages: list[dict], request_id: str) -> dict:
    """The XML answer as JSON, shaped as an XML-to-dict conversion shapes it."""

    def element(m: dict) -> dict:
        out = {k: v for k, v in m.items() if k not in {"Attributes", "MessageAttributes"}}
        out["Attribute"] = [{"Name": k, "Value": v} for k, v in m["Attributes"].items()]
        if "MessageAttributes" in m:
            out["MessageAttribute"] = [
                {"Name": k, "Value": v} for k, v in m["MessageAttributes"].items()
            ]
        return out

    elements = [element(m) for m in messages]
    result = None if not elements else {"Message": elements[0] if len(elements) == 1 else elements}
    return {
        "ReceiveMessageResponse": {
            "ReceiveMessageResult": result,
            "ResponseMetadata": {"RequestId": request_id},
        }
    }


def _unsigned_workspace(queue_url: str) -> Workspace:
    parts = arns.queue_url_parts(queue_url)
    account = parts[0] if parts else ""
    region = arns.queue_url_region(queue_url) or settings.PLAYGROUND_REGION
    workspace = Workspace.objects.filter(
        account_id=account, region=region, local_convention=True
    ).first()
    if workspace is None or not workspaces.local_credentials_enabled():
        raise errors.QueueDoesNotExist()
    return workspace


def _answer(request, path_url: str | None) -> HttpResponse:
    close_old_connections()
    request_id = str(uuid.uuid4())
    wants_json = "application/json" in request.META.get("HTTP_ACCEPT", "")
    protocol = "json-document" if wants_json else "query"
    try:
        if views.is_aws_request(request):
            state = views._Request(request)
            protocol = state.protocol
            body = request.read()
            state.parse(body)
            state.authenticate(body)
            if state.action != "ReceiveMessage":
                raise errors.InvalidRequest()
            workspace, queue_url = state.workspace, state.params.get("QueueUrl") or ""
        else:
            values = request.POST if request.method == "POST" else request.GET
            queue_url = path_url or values.get("QueueUrl") or ""
            workspace = _unsigned_workspace(queue_url)
        queue = sqs.get_queue_by_url(workspace, queue_url)
        show_invisible = request.GET.get("ShowInvisible", "").lower() in TRUE
        show_delayed = request.GET.get("ShowDelayed", "").lower() in TRUE
        if request.method == "POST" and not views.is_aws_request(request):
            show_invisible |= request.POST.get("ShowInvisible", "").lower() in TRUE
            show_delayed |= request.POST.get("ShowDelayed", "").lower() in TRUE
        peeked = sqs.peek_messages(
            queue,
            now=clocks.for_workspace(workspace).now(),
            show_invisible=show_invisible,
            show_delayed=show_delayed,
        )
        messages = [_message(p, show_invisible, show_delayed) for p in peeked]
    except errors.AwsError as exc:
        if protocol == "json":
            return json_error(exc, request_id)
        if protocol == "json-document":
            body = {
                "ErrorResponse": {
                    "Error": {
                        "Type": "Sender",
                        "Code": exc.wire_query_code,
                        "Message": exc.message,
                    },
                    "RequestId": request_id,
                }
            }
            return HttpResponse(
                json.dumps(body), status=exc.status, content_type="application/json"
            )
        return query_error(exc, request_id)
    if protocol == "json":
        return sqs_json.render({"Messages": messages} if messages else {}, request_id)
    if protocol == "json-document":
        return HttpResponse(
            json.dumps(_as_document(messages, request_id)), content_type="application/json"
        )
    return query.render("ReceiveMessage", {"Messages": messages} if messages else {}, request_id)


async def messages(
    request, region: str | None = None, account_id: str | None = None, queue_name: str | None = None
):
    path_url = f"/queue/{region}/{account_id}/{queue_name}" if queue_name else None
    return await sync_to_async(_answer, thread_sensitive=False)(request, path_url)
