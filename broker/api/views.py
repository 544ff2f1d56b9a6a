"""The AWS endpoint at the server root: protocol dispatch, SigV4, long polling.

`protocols.md` §1: a request with `X-Amz-Target` speaks JSON, anything else with
`Action=` (form body or querystring) speaks query; which service answers is
`broker/api/services.py`'s table (SQS, KMS). Old SDKs POST to the queue URL path
`/<account>/<queue>` (the `QueueUrl` parameter wins).
Every request is signed (§5, `broker/api/sigv4.py`) and checked against the
workspace's secret. Broker work runs in worker threads (`_calls`), one chunk per
step, so requests never queue up behind each other. Each call that reaches a workspace leaves one
`api.call` event (the playground's API feed).

ReceiveMessage long polling (`sqs.md` §5.2): subscribe to the queue's wake-ups
first, then try; when nothing is visible, wait for a send, for the next hidden
message's due time, or for the end of the wait (simulated seconds turned into wall
seconds by the workspace clock, at most 20 wall seconds) — no sleep loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection, transaction
from django.http import HttpResponse

from broker import arns, costs, errors, events, lambdas, sqs, wakeup, workspaces
from broker import clock as clocks
from broker.api import (
    actions,
    lambda_actions,
    lambda_rest,
    query,
    services,
    sigv2,
    sigv4,
    sqs_json,
)
from broker.api.errors import InternalFailure, MissingAction, json_error, query_error
from broker.models import Workspace

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024  # a 1 MiB batch, url-encoded, fits with room
# Lambda's: a 10 MB zip in base64 (CreateFunction), a 6 MB Invoke payload.
MAX_REST_BODY_BYTES = 16 * 1024 * 1024
# The longest a synchronous Invoke waits for its run, in wall seconds (Lambda's own
# timeout is 900 s; a stopped clock would make it wait forever).
MAX_INVOKE_WAIT = 900.0
MAX_WAIT_WALL_SECONDS = 20.0
_SKIPPED_PARAMS = {"Action", "Version"}


class _WriterQueue:
    """First come, first served turns at this process's SQLite write transactions.

    SQLite has one writer at a time and its busy handler sleeps in growing steps (up
    to 100 ms) while it waits; queueing this process's writers here instead hands the
    database over the moment the previous transaction commits, in arrival order.
    """

    def __init__(self):
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # the releaser handed the turn over: _held stays True

    def release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False


_sqlite_writers = _WriterQueue()


@contextlib.contextmanager
def _write_transaction():
    """One transaction; on SQLite, taken in turn and handed on right after COMMIT.

    The turn is given back by the first on-commit hook, so the event pushes and
    wake-ups that follow a commit run outside it.
    """
    if connection.vendor != "sqlite":
        with transaction.atomic():
            yield
        return
    _sqlite_writers.acquire()
    held = [True]

    def give_back() -> None:
        if held[0]:
            held[0] = False
            _sqlite_writers.release()

    try:
        with transaction.atomic():
            transaction.on_commit(give_back)
            yield
    finally:
        give_back()


def is_aws_request(request) -> bool:
    """An SDK call (signed, JSON target or `Action=`), not a person's browser."""
    meta = request.META
    if "Action=" in meta.get("QUERY_STRING", ""):
        return True
    if request.method != "POST":
        return False
    if "HTTP_X_AMZ_TARGET" in meta or "HTTP_AUTHORIZATION" in meta:
        return True
    # An unsigned query call: answered MissingAuthenticationToken, not with the home page.
    if (
        meta.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        and int(meta.get("CONTENT_LENGTH") or 0) <= 1_000_000
    ):
        body = request.body
        return body.startswith(b"Action=") or b"&Action=" in body
    return False


def client_name(user_agent: str) -> str:
    """Which tool called, from the User-Agent: "boto3", "aws-cli", "botocore", …"""
    ua = user_agent.lower()
    if ua.startswith("aws-cli") or " aws-cli/" in ua:
        return "aws-cli"
    for name in ("boto3", "botocore", "aws-sdk-java", "aws-sdk-js", "aws-sdk-go"):
        if name in ua:
            return name
    return ua.split("/", 1)[0][:30] or "unknown"


def _summary(params: dict) -> dict:
    """A few key parameters for the API feed: no bodies, nothing long."""
    out = {}
    for key, value in params.items():
        if key in _SKIPPED_PARAMS or len(out) >= 8:
            continue
        if isinstance(value, list):
            value = (
                f"{len(value)} item(s)"
                if value and isinstance(value[0], dict)
                else ",".join(map(str, value))
            )
        elif isinstance(value, dict):
            value = ",".join(sorted(map(str, value)))
        elif not isinstance(value, int | float | bool):
            value = str(value)
        if isinstance(value, str) and len(value) > 80:
            value = value[:77] + "..."
        out[key] = value
    return out


class _Request:
    """What one AWS call knows about itself while it is being answered."""

    def __init__(self, request, *, on_queue_url: bool = False, rest: bool = False):
        self.request = request
        self.started = time.perf_counter()
        self.request_id = str(uuid.uuid4())
        meta = request.META
        self.target = meta.get("HTTP_X_AMZ_TARGET")
        self.protocol = "rest-json" if rest else "json" if self.target else "query"
        self.client = client_name(meta.get("HTTP_USER_AGENT", ""))
        host = meta.get("HTTP_HOST") or f"{meta.get('SERVER_NAME')}:{meta.get('SERVER_PORT')}"
        self.base_url = f"{request.scheme}://{host}"
        self.path_queue_url = f"{self.base_url}{request.path}" if on_queue_url else None
        self.action = ""
        self.service = services.DEFAULT  # until the request says which
        self.params: dict = {}
        self.flat: dict[str, str] = {}  # a query request's parameters as sent
        self.call: actions.Call | None = None
        self.workspace = None
        self.credentials: workspaces.Credentials | None = None

    # --- sync steps (worker threads) -----------------------------------------

    def _header(self, name: str) -> str:
        meta = self.request.META
        if name in ("content-type", "content-length"):
            return meta.get(name.upper().replace("-", "_"), "")
        return meta.get("HTTP_" + name.upper().replace("-", "_"), "")

    def parse(self, body: bytes) -> None:
        """Find the service and the action, and read the parameters."""
        meta = self.request.META
        if self.protocol == "rest-json":
            self.service = services.LAMBDA
            self.action, path_params = lambda_rest.route(self.request.method, self.request.path)
            self.params = lambda_rest.parse(
                self.action,
                body=body,
                query_string=meta.get("QUERY_STRING", ""),
                meta=meta,
                path_params=path_params,
            )
            return
        if self.protocol == "json":
            self.service, self.action = services.by_target(self.target)
            if self.service is services.NONE:
                self.service.handler(self.action)  # UnknownOperationException
            self.params = sqs_json.parse(body)
            return
        flat = self.flat = query.parse(body, meta.get("QUERY_STRING", ""))
        header = meta.get("HTTP_AUTHORIZATION")
        scope = sigv4.parse_authorization(header).service if header else None
        self.service = services.by_scope(scope)
        self.action = flat.get("Action", "")
        if not self.action:
            raise MissingAction()
        self.params = self.service.query_params(flat, self.action)

    def _resolve(self, access_key_id: str, region: str | None = None) -> str:
        """The secret of the access key; the workspace of its account in the region, if
        there is one yet, kept on self (so a refused call is recorded in its feed)."""
        credentials = self.credentials = workspaces.resolve_credentials(access_key_id, region)
        if credentials is None:
            raise errors.InvalidClientTokenId()
        self.workspace = credentials.workspace
        return credentials.secret

    def authenticate(self, body: bytes) -> None:
        raw_path = self.request.scope.get("raw_path") if hasattr(self.request, "scope") else None
        raw_path = raw_path.decode("latin-1") if raw_path else self.request.path
        header = self.request.META.get("HTTP_AUTHORIZATION")
        if not header and sigv2.is_signed(self.flat):
            access_key_id = sigv2.access_key_id(self.flat)
            # SigV2 names no region: the queue URL's (it is signed too), else the server's.
            url = self.path_queue_url or str(self.flat.get("QueueUrl") or "")
            region = arns.queue_url_region(url)
            if region is not None:
                sigv4.check_region(region)
            sigv2.verify(
                self.flat,
                self._resolve(access_key_id, region),
                method=self.request.method,
                host=self._header("host"),
                path=raw_path,
            )
            signature_version = 2
        else:
            auth = sigv4.parse_authorization(header)
            services.check_scope(self.service, auth.service)
            sigv4.check_region(auth.region)
            access_key_id = auth.access_key_id
            secret = self._resolve(access_key_id, auth.region)
            headers = {name: self._header(name) for name in auth.signed_headers}
            for name in ("x-amz-date", "x-amz-content-sha256"):
                if name not in headers and self._header(name):
                    headers[name] = self._header(name)
            sigv4.verify(
                auth,
                secret,
                method=self.request.method,
                raw_path=raw_path,
                query_string=self.request.META.get("QUERY_STRING", ""),
                headers=headers,
                body=body,
            )
            signature_version = 4
        self.workspace = self.credentials.open_workspace()
        workspaces.mark_used(self.workspace)
        self.call = actions.Call(
            workspace=self.workspace,
            clock=clocks.for_workspace(self.workspace),
            base_url=self.base_url,
            actor=f"{self.client} · {access_key_id}"[:120],
            path_queue_url=self.path_queue_url,
            action=self.action,
            signature_version=signature_version,
        )

    def _is_send_message_batch(self) -> bool:
        """Whether the request says it is a SendMessageBatch, before its body is read."""
        if self.target:
            return self.target.endswith(".SendMessageBatch")
        head = self.request.META.get("QUERY_STRING", "").encode() + self.request.read(4096)
        return b"Action=SendMessageBatch" in head

    def begin(self):
        """Read, authenticate and act; a ReceiveRequest when a long poll must wait."""
        close_old_connections()
        limit = MAX_REST_BODY_BYTES if self.protocol == "rest-json" else MAX_BODY_BYTES
        too_long = (
            errors.RequestEntityTooLargeException
            if self.protocol == "rest-json"
            else errors.InvalidParameterValue
        )
        length = int(self.request.META.get("CONTENT_LENGTH") or 0)
        if length <= limit:
            # Read whatever came, a GET's body too: the signature covers its hash.
            body = self.request.read()
            length = len(body)
        if length > limit:
            if self._is_send_message_batch():  # then certainly over the batch's 1 MiB
                raise errors.BatchRequestTooLong(
                    f"Batch requests cannot be longer than {sqs.MAX_BATCH_BYTES} bytes. "
                    f"You have sent {length} bytes."
                )
            raise too_long(f"The request body is {length} bytes; at most {limit} are accepted.")
        self.parse(body if self.request.method in ("POST", "PUT") else b"")
        self.authenticate(body)
        handler = self.service.handler(self.action)
        self.call.summary = _summary(self.params)
        if handler is actions.receive_message_now:
            receive = actions.receive_request(self.call, self.params)
            if receive.wait > 0:
                return receive
            return self.act(actions.receive_message, receive)
        return self.act(handler, self.params)

    def act(self, handler, argument, *, record_empty: bool = True) -> dict:
        """Run one action and its `api.call` event in one transaction (one write lock)."""
        kept = None
        with _write_transaction():
            try:
                result = handler(self.call, argument)
            except errors.AwsError as exc:
                if not exc.keeps_events:
                    raise
                kept = exc  # commit what it recorded, then answer the refusal
            else:
                if result or record_empty:
                    self.record(None)
        if kept is not None:
            raise kept
        return result

    def try_receive(self, receive: actions.ReceiveRequest) -> tuple[dict, float]:
        """One receive with a freshly loaded clock; (result, wall seconds to the next due)."""
        close_old_connections()
        workspace = workspaces.reload(self.workspace)
        self.workspace = self.call.workspace = receive.queue.workspace = workspace
        self.call.clock = clocks.for_workspace(workspace)
        result = self.act(actions.receive_message, receive, record_empty=False)
        if result:
            return result, 0.0
        now = self.call.clock.now()
        due = sqs.next_visible_at(receive.queue, now=now)
        return result, math.inf if due is None else self.call.clock.real_seconds_until(due)

    def record(self, error: errors.AwsError | None) -> None:
        """Store the `api.call` event of this request (inside the caller's transaction)."""
        if self.workspace is None:
            return
        if self.call is not None:  # authenticated: it reached the service, AWS bills it
            costs.api_request(
                self.workspace,
                self.service.name,
                queue_name=self.call.queue_name,
                payload_bytes=self.call.payload_bytes,
            )
        data = {
            "action": self.action,
            "protocol": self.protocol,
            "params": self.call.summary if self.call else _summary(self.params),
            "status": error.status if error is not None else 200,
            "error": error.wire_query_code if error is not None else "",
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 2),
            "client": self.client,
        }
        events.record(
            self.workspace,
            "api.call",
            queue=self.call.queue_name if self.call else "",
            data=data,
            clock=clocks.for_workspace(self.workspace),
        )

    def finish(self, result: dict | None, error: errors.AwsError | None = None) -> dict | None:
        """Record the `api.call` event in its own small transaction (errors, empty polls)."""
        close_old_connections()
        try:
            with _write_transaction():
                self.record(error)
        except Exception:  # the feed is a view of the call, never its outcome
            log.exception("could not record the api.call event")
        return result

    # --- responses -----------------------------------------------------------

    def wait_for(self, pending: lambda_actions.PendingInvoke) -> float:
        """Finish a synchronous invocation whose time has come; wall seconds still to
        wait for it (0 when it is done)."""
        close_old_connections()
        invocation = pending.invocation
        try:
            invocation.refresh_from_db()
        except invocation.DoesNotExist:  # its function was deleted meanwhile
            raise errors.ResourceNotFoundException(
                f"Function not found: {pending.function_arn}"
            ) from None
        if invocation.status != invocation.Status.RUNNING:
            return 0.0
        if invocation.config.get("runs_code"):
            return 0.05  # a worker runs it: look again shortly
        clock = clocks.for_workspace(Workspace.objects.get(pk=self.workspace.pk))
        if clock.now() >= invocation.ends_at:
            with _write_transaction():
                lambdas.finish_invocation(invocation, clock=clock)
            return 0.0
        return clock.real_seconds_until(invocation.ends_at)

    def render(self, result):
        if self.protocol == "rest-json":
            return lambda_rest.render(result, self.request_id)
        if self.protocol == "json":
            return sqs_json.render(result, self.request_id, json_version=self.service.json_version)
        return self.service.query_render(self.action, result, self.request_id)

    def render_error(self, exc: errors.AwsError):
        service = self.service
        if self.protocol == "rest-json":
            return lambda_rest.error(exc, self.request_id)
        if self.protocol == "json":
            return json_error(
                exc,
                self.request_id,
                namespace=service.error_namespace,
                query_compatible=service.query_compatible,
                json_version=service.json_version,
            )
        return query_error(exc, self.request_id, xmlns=service.xml_namespace)


# The threads broker work runs in, each with its own database connection: plain
# executor threads, since asgiref's hop (context copies, thread-sensitive bookkeeping)
# costs a call more than it does here. As many as asyncio's default executor has.
_calls = ThreadPoolExecutor(
    max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="aws-call"
)


def _in_thread(fn):
    async def run(*args):
        return await asyncio.get_running_loop().run_in_executor(_calls, fn, *args)

    return run


async def _long_poll(state: _Request, receive: actions.ReceiveRequest) -> dict:
    clock = state.call.clock
    wall_deadline = time.monotonic() + MAX_WAIT_WALL_SECONDS
    sim_deadline = clock.now() + receive.wait
    async with wakeup.Waiter(receive.queue.pk) as waiter:
        while True:
            result, next_due = await _in_thread(state.try_receive)(receive)
            if result:
                return result
            remaining = min(
                wall_deadline - time.monotonic(), state.call.clock.real_seconds_until(sim_deadline)
            )
            if remaining <= 0:
                return await _in_thread(state.finish)({})
            await waiter.wait(min(remaining, next_due))


async def _await_invocation(state: _Request, pending: lambda_actions.PendingInvoke):
    """Wait for a synchronous Invoke's simulated run to end, on the workspace clock."""
    deadline = time.monotonic() + MAX_INVOKE_WAIT
    while True:
        remaining = await _in_thread(state.wait_for)(pending)
        if remaining <= 0:
            return await _in_thread(lambda_actions.invoke_result)(pending)
        if time.monotonic() >= deadline:
            raise errors.ServiceException(
                "The invocation did not end in 900 wall seconds: is the workspace's clock paused?"
            )
        # Re-read the clock at least each second: its speed may change meanwhile.
        await asyncio.sleep(min(remaining, 1.0))


async def _handle(request, *, on_queue_url: bool = False, rest: bool = False):
    state = _Request(request, on_queue_url=on_queue_url, rest=rest)
    try:
        outcome = await _in_thread(state.begin)()
        if isinstance(outcome, actions.ReceiveRequest):
            outcome = await _long_poll(state, outcome)
        elif isinstance(outcome, lambda_actions.PendingInvoke):
            outcome = await _await_invocation(state, outcome)
        return state.render(outcome)
    except errors.AwsError as exc:
        await _in_thread(state.finish)(None, exc)
        return state.render_error(exc)
    except Exception:
        log.exception("%s %s failed", state.service.name.upper(), state.action or "request")
        exc = InternalFailure()
        await _in_thread(state.finish)(None, exc)
        return state.render_error(exc)


async def endpoint(request):
    return await _handle(request)


async def queue_url_endpoint(request, **_path):
    """A call POSTed to a queue URL (`/<account>/<name>`, `/queue/<region>/…`)."""
    return await _handle(request, on_queue_url=True)


async def rest_endpoint(request):
    """Lambda's REST-JSON paths (`/2015-03-31/functions/…`)."""
    return await _handle(request, rest=True)


def internal_failure(request):
    """What an SDK gets when a path of `broker/api/urls.py` fails: InternalFailure in
    JSON (both SDK protocols read it), never Django's HTML page."""
    return json_error(InternalFailure(), str(uuid.uuid4()), namespace="")


async def unknown_path(request):
    """A signed request to a path no service here has: REST-JSON's error, not a page."""
    response = HttpResponse(
        json.dumps(
            {
                "message": f"No AWS service of this endpoint answers {request.method} "
                f"{request.path[:200]}."
            }
        ),
        status=404,
        content_type="application/json",
    )
    response["x-amzn-ErrorType"] = "UnknownOperationException"
    response["x-amzn-RequestId"] = str(uuid.uuid4())
    return response
