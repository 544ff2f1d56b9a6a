"""Nobody reaches another's workspace through its pages, forms or websocket.

Two visitors, A (the owner) and B (the intruder), each with a workspace of their
own. Every URL pattern of `playground/urls.py` that names a workspace is requested
with B's session: with A's slug and A's resources it answers 404 and changes
nothing of A's; with B's own slug and A's resource names and ids it finds nothing
of A's either. The same request from A works (and changes A's workspace where it
is a form), so the 404 is about who asks. B's websocket to A's workspace is refused
for every page kind, and A's events never reach B's socket.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from broker import clock as clocks
from broker import costs, events, kms, sns, sqs
from broker.models import Inbox, Workspace
from broker.pipeline import databases, producers
from broker.sns import inboxes
from broker.sqs import redrive
from playground import forms, pages
from playground.asgi import application
from tests.factories import make_function, make_mapping, make_queue

SECRET = "owner's secret body"  # in A's messages: never in an answer to B
EMAIL = "owner@example.com"
PHONE = "+15550100001"


def _visitor() -> tuple[Client, Workspace]:
    client = Client()
    client.post("/w/")
    return client, Workspace.objects.get(pk=client.session["workspace_id"])


def _owned(workspace: Workspace, secret: str = SECRET) -> dict:
    """A workspace's resources, made through the services: every kind a page or form
    names, with `secret` in every message body."""
    clock = clocks.for_workspace(workspace)
    dlq = make_queue(workspace, "orders-dlq", clock=clock)
    queue = make_queue(
        workspace,
        "orders",
        clock=clock,
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 5}),
    )
    spare_dlq = make_queue(workspace, "billing-dlq", clock=clock)
    make_queue(
        workspace,
        "billing",
        clock=clock,
        RedrivePolicy=json.dumps({"deadLetterTargetArn": spare_dlq.arn, "maxReceiveCount": 5}),
    )
    sent = sqs.send_message(queue, body=secret, clock=clock)
    [received] = sqs.receive_messages(queue, visibility=600, receiver="owner", clock=clock)
    sqs.send_message(queue, body=secret, clock=clock)  # one visible, for the poll
    for target in (dlq, spare_dlq):
        sqs.send_message(target, body=secret, clock=clock)
    task = redrive.start_move_task(workspace, dlq.arn, rate=1, clock=clock)

    topic = sns.create_topic(workspace, "news", clock=clock)
    subscription = sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    pending = sns.subscribe(topic, "email", EMAIL, base_url="http://testserver", clock=clock)
    email = inboxes.inbox(workspace, Inbox.Kind.EMAIL, EMAIL, clock=clock)
    confirmation = inboxes.receive(
        email,
        message_type="SubscriptionConfirmation",
        body=json.dumps({"TopicArn": topic.arn, "Token": pending.token, "Message": secret}),
        clock=clock,
    )
    inboxes.inbox(workspace, Inbox.Kind.HTTP, "hook", clock=clock)
    inboxes.inbox(workspace, Inbox.Kind.SMS, PHONE, clock=clock)

    function = make_function(workspace, "consumer", clock=clock)
    mapping = make_mapping(queue, function, clock=clock)
    databases.create_database(workspace, "ledger", capacity=10, latency=0.01, clock=clock)
    producers.create_producer(workspace, "shop", target_arn=queue.arn, clock=clock)
    key = kms.create_key(workspace, description="owner's key", clock=clock)
    current = sqs.get_queue_attributes(queue, ["All"], clock=clock)
    attributes = {name: current.get(name, "") for name in forms.QueueAttributesForm.base_fields}
    return {
        "queue": queue.name,
        "dlq": dlq.name,
        "spare_dlq": spare_dlq.name,
        "message_id": sent.message_id,
        "receipt_handle": received.receipt_handle,
        "task": task.handle,
        "topic": topic.name,
        "subscription": str(subscription.uuid),
        "confirmation": confirmation.pk,
        "function": function.name,
        "mapping": str(mapping.uuid),
        "database": "ledger",
        "producer": "shop",
        "key_id": key.key_id,
        "queue_arn": queue.arn,
        "queue_attributes": {**attributes, "VisibilityTimeout": "45"},
    }


# --- what A's workspace holds -----------------------------------------------------------


def _path_to_workspace(model) -> str | None:
    """The lookup from a broker model's rows to their workspace."""
    if model is Workspace:
        return "pk"
    fields = {f.name: f for f in model._meta.get_fields() if f.many_to_one or f.one_to_one}
    if "workspace" in fields:
        return "workspace"
    for name, field in fields.items():
        if field.related_model is not None and any(
            f.name == "workspace" for f in field.related_model._meta.get_fields()
        ):
            return f"{name}__workspace"
    return None


def _plain(value):
    return bytes(value) if isinstance(value, memoryview) else value


def snapshot(workspace: Workspace) -> dict:
    """Every row of the workspace, in every broker table, and its usage counters."""
    rows = {}
    for model in apps.get_app_config("broker").get_models():
        path = _path_to_workspace(model)
        assert path is not None, f"{model.__name__} belongs to no workspace"
        found = model.objects.filter(**{path: workspace.pk}).order_by("pk").values()
        rows[model.__name__] = [{k: _plain(v) for k, v in row.items()} for row in found]
    rows["usage"] = costs.usage(workspace)
    return rows


# --- the table: every workspace URL, with A's resources ---------------------------------


def _queue(name_key: str = "queue"):
    return lambda r: {"name": r[name_key]}


KWARGS = {
    "workspace": lambda r: {},
    "clock": lambda r: {},
    "create-queue": lambda r: {},
    "create-function": lambda r: {},
    "add-trigger": lambda r: {},
    "create-database": lambda r: {},
    "create-producer": lambda r: {},
    "producer": lambda r: {"name": r["producer"]},
    "database": lambda r: {"name": r["database"]},
    "kms-keys": lambda r: {},
    "kms-quota": lambda r: {},
    "kms-opt-in": lambda r: {},
    "aws-rules": lambda r: {},
    "costs-reset": lambda r: {},
    "kms-key-toggle": lambda r: {"key_id": r["key_id"]},
    "trigger": lambda r: {"uuid": r["mapping"]},
    "queue": _queue(),
    "queue-send": _queue(),
    "queue-poll": _queue(),
    "queue-delete-message": _queue(),
    "queue-purge": _queue(),
    "queue-delete": _queue(),
    "queue-attributes": _queue(),
    "queue-redrive": _queue("spare_dlq"),
    "queue-redrive-cancel": _queue("dlq"),
    "message": lambda r: {"message_id": r["message_id"]},
    "create-topic": lambda r: {},
    "topic": lambda r: {"name": r["topic"]},
    "topic-publish": lambda r: {"name": r["topic"]},
    "topic-subscribe": lambda r: {"name": r["topic"]},
    "topic-settings": lambda r: {"name": r["topic"]},
    "topic-delete": lambda r: {"name": r["topic"]},
    "topic-unsubscribe": lambda r: {"name": r["topic"], "uuid": r["subscription"]},
    "topic-filter-editor": lambda r: {"name": r["topic"], "uuid": r["subscription"]},
    "topic-filter": lambda r: {"name": r["topic"], "uuid": r["subscription"]},
    "inbox": lambda r: {"kind": "email", "address": EMAIL},
    "inbox-mode": lambda r: {"kind": "http", "address": "hook"},
    "inbox-opt-out": lambda r: {"kind": "sms", "address": PHONE},
    "inbox-confirm": lambda r: {"kind": "email", "address": EMAIL, "pk": r["confirmation"]},
    "function": lambda r: {"name": r["function"]},
    "function-update": lambda r: {"name": r["function"]},
    "function-test": lambda r: {"name": r["function"]},
    "function-role": lambda r: {"name": r["function"]},
    "function-delete": lambda r: {"name": r["function"]},
}

# What each form sends: what its owner would, so a form that let B in would act.
FUNCTION_CONFIG = {
    "duration": "1",
    "timeout": "9",
    "fail_percent": "0",
    "failure": "exception",
    "log_template": "Processing message: {body}",
}
FORMS = {
    "clock": lambda r: {"action": "pause"},
    "create-queue": lambda r: {"name": "stolen", "visibility_timeout": "30", "delay_seconds": "0"},
    "create-function": lambda r: {"name": "stolen", **FUNCTION_CONFIG},
    "add-trigger": lambda r: {
        "queue": r["spare_dlq"],
        "function": r["function"],
        "batch_size": "10",
        "batching_window": "0",
        "enabled": "on",
    },
    "create-database": lambda r: {"name": "stolen", "capacity": "5", "latency": "0.1"},
    "create-producer": lambda r: {
        "name": "stolen",
        "target": r["queue_arn"],
        "rate": "1",
        "peak_rate": "0",
        "peak_every": "0",
        "peak_length": "0",
        "body_template": "x",
    },
    "producer": lambda r: {"action": "delete"},
    "database": lambda r: {"action": "down"},
    "kms-keys": lambda r: {"type": "SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT", "alias": "alias/stolen"},
    "kms-quota": lambda r: {"quota": "5"},
    "kms-opt-in": lambda r: {"opted_in": "false"},
    "aws-rules": lambda r: {"strict": "false"},
    "costs-reset": lambda r: {},
    "kms-key-toggle": lambda r: {"enabled": "false"},
    "trigger": lambda r: {"action": "disable"},
    "queue-send": lambda r: {"body": "intruder"},
    "queue-poll": lambda r: {"max_number": "10", "visibility": "30"},
    "queue-delete-message": lambda r: {
        "receipt_handle": r["receipt_handle"],
        "message_id": r["message_id"],
    },
    "queue-purge": lambda r: {},
    "queue-delete": lambda r: {},
    "queue-attributes": lambda r: r["queue_attributes"],
    "queue-redrive": lambda r: {"destination": "", "rate": "10"},
    "queue-redrive-cancel": lambda r: {"handle": r["task"]},
    "create-topic": lambda r: {"name": "stolen"},
    "topic-publish": lambda r: {"message": "intruder"},
    "topic-subscribe": lambda r: {"protocol": "sqs", "endpoint": r["spare_dlq"]},
    "topic-settings": lambda r: {"display_name": "intruder"},
    "topic-delete": lambda r: {},
    "topic-unsubscribe": lambda r: {},
    "topic-filter": lambda r: {
        "action": "save",
        "policy": '{"tier": ["gold"]}',
        "scope": "MessageAttributes",
    },
    "inbox-mode": lambda r: {"mode": "error"},
    "inbox-opt-out": lambda r: {"opted_out": "true"},
    "inbox-confirm": lambda r: {},
    "function-update": lambda r: FUNCTION_CONFIG,
    "function-test": lambda r: {"event": '{"hello": "world"}'},
    "function-role": lambda r: {"preset": "execution-role"},
    "function-delete": lambda r: {},
}
# The URLs that are pages (GET); every other one is a form (POST).
PAGES = {"workspace", "queue", "message", "topic", "topic-filter-editor", "inbox", "function"}

# The URLs of no workspace: the AWS endpoint's own (tests/broker/api/test_isolation.py),
# links that carry their own proof (signed tokens, unguessable ARNs), the home page.
NOT_A_WORKSPACES = {
    "home",
    "healthz",
    "new-workspace",
    "lambda-code",
    "sns-links",
    "sns-signing-certificate",
    "aws-sqs-messages",
    "aws-sqs-queue-messages",
    "aws-queue-url",
}


def _named_patterns() -> dict[str, URLPattern]:
    return {p.name: p for p in get_resolver().url_patterns if isinstance(p, URLPattern)}


def test_every_url_pattern_is_tried():
    """A new page or form of a workspace needs a row in KWARGS (and FORMS if it posts)."""
    patterns = _named_patterns()
    with_slug = {name for name, p in patterns.items() if "<str:slug>" in str(p.pattern)}
    assert with_slug == set(KWARGS)
    assert set(patterns) - with_slug == NOT_A_WORKSPACES
    assert set(FORMS) == set(KWARGS) - PAGES


def _request(client: Client, name: str, slug: str, resources: dict):
    path = reverse(name, kwargs={"slug": slug, **KWARGS[name](resources)})
    if name in PAGES:
        return client.get(path, HTTP_HX_REQUEST="true")
    return client.post(path, FORMS[name](resources), HTTP_HX_REQUEST="true")


@pytest.fixture
def owner():
    client, workspace = _visitor()
    return client, workspace, _owned(workspace)


@pytest.fixture
def intruder():
    return _visitor()


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(KWARGS))
def test_another_workspaces_page_or_form_is_not_found(name, owner, intruder):
    owner_client, workspace, resources = owner
    intruder_client, _ = intruder
    before = snapshot(workspace)

    answer = _request(intruder_client, name, workspace.slug, resources)
    assert answer.status_code == 404
    assert SECRET not in answer.content.decode()
    assert snapshot(workspace) == before
    stranger = _request(Client(), name, workspace.slug, resources)  # no session at all
    assert stranger.status_code == 404
    assert snapshot(workspace) == before

    # The same request from the owner reaches the workspace (and a form changes it).
    assert _request(owner_client, name, workspace.slug, resources).status_code in (200, 204)
    if name not in PAGES:
        assert snapshot(workspace) != before


# B's answer when its own workspace has resources of the same names as A's and the
# request carries A's ids: none of them is found in B's workspace.
FOREIGN_IDS = {
    "message": 404,  # A's message id
    "trigger": 404,  # A's trigger UUID
    "topic-unsubscribe": 404,  # A's subscription UUID
    "topic-filter-editor": 404,
    "topic-filter": 404,
    "inbox-confirm": 404,  # A's inbox message
    "kms-key-toggle": 422,  # A's key id: KMS's NotFoundException, on the form
    "queue-delete-message": 422,  # A's receipt handle: ReceiptHandleIsInvalid
    "queue-redrive-cancel": 422,  # A's task handle: ResourceNotFoundException
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(KWARGS))
def test_another_workspaces_ids_find_nothing_in_ones_own(name, owner, intruder):
    """B's own pages and forms, B having a queue, topic, function, inbox... of each of
    A's names, with A's message ids, trigger UUIDs, subscription UUIDs, key ids,
    receipt handles and task handles: they look in B's workspace only."""
    _, workspace, resources = owner
    intruder_client, own = intruder
    _owned(own, secret="intruder's own body")
    before = snapshot(workspace)

    answer = _request(intruder_client, name, own.slug, resources)
    assert SECRET not in answer.content.decode()
    assert snapshot(workspace) == before
    if name in FOREIGN_IDS:
        assert answer.status_code == FOREIGN_IDS[name]


# --- the websocket ----------------------------------------------------------------------


def _communicator(client: Client, slug: str, page: str) -> WebsocketCommunicator:
    cookie = client.cookies["sessionid"].value if "sessionid" in client.cookies else ""
    return WebsocketCommunicator(
        application,
        f"/ws/w/{slug}/?page={page}",
        headers=[(b"host", b"testserver"), (b"cookie", f"sessionid={cookie}".encode())],
    )


PAGE_PARAMS = {
    "workspace": lambda r: "workspace",
    "queue": lambda r: f"queue:{r['queue']}",
    "message": lambda r: f"message:{r['message_id']}",
    "function": lambda r: f"function:{r['function']}",
    "topic": lambda r: f"topic:{r['topic']}",
    "inbox": lambda r: f"inbox:email:{EMAIL}",
}


def test_every_live_page_kind_is_tried():
    assert set(PAGE_PARAMS) == set(pages.PAGES)


@pytest.mark.django_db(transaction=True)
def test_another_workspaces_websocket_is_refused_for_every_page():
    _, workspace = _visitor()
    resources = _owned(workspace)
    intruder, _ = _visitor()

    async def scenario():
        refused = []
        for kind, param in PAGE_PARAMS.items():
            communicator = _communicator(intruder, workspace.slug, param(resources))
            connected, _ = await communicator.connect(timeout=5)
            if connected:
                await communicator.disconnect()
            else:
                refused.append(kind)
        return refused

    assert async_to_sync(scenario)() == list(PAGE_PARAMS)


@pytest.mark.django_db(transaction=True)
def test_another_workspaces_names_on_ones_own_socket_show_nothing_of_it():
    _, workspace = _visitor()
    resources = _owned(workspace)
    intruder, own = _visitor()

    async def scenario():
        frames = []
        for param in PAGE_PARAMS.values():
            communicator = _communicator(intruder, own.slug, param(resources))
            connected, _ = await communicator.connect(timeout=5)
            assert connected is True
            frames.append(await communicator.receive_from(timeout=5))
            await communicator.disconnect()
        return frames

    for frame in async_to_sync(scenario)():
        assert SECRET not in frame
        assert workspace.account_id not in frame


@pytest.mark.django_db(transaction=True)
def test_another_workspaces_events_never_reach_ones_socket():
    owner, workspace = _visitor()
    clock = clocks.for_workspace(workspace)
    queue = make_queue(workspace, "orders", clock=clock)
    intruder, own = _visitor()

    async def scenario():
        mine = _communicator(owner, workspace.slug, "queue:orders")
        theirs = _communicator(intruder, own.slug, "queue:orders")
        for communicator in (mine, theirs):
            assert (await communicator.connect(timeout=5))[0] is True
            await communicator.receive_from(timeout=5)  # the snapshot
        await database_sync_to_async(sqs.send_message)(queue, body=SECRET, clock=clock)
        frame = await mine.receive_from(timeout=5)
        assert await theirs.receive_nothing(timeout=0.5) is True
        await mine.disconnect()
        await theirs.disconnect()
        return frame

    assert f'id="queue-{queue.pk}"' in async_to_sync(scenario)()
    assert events.group_name(workspace.pk) != events.group_name(own.pk)
