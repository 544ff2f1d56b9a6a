"""Event kinds are declared once, and events stored before the renaming are carried over."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from broker import events
from broker.models import Event

BEFORE = [("broker", "0011_reseal_kms_keys_under_the_generated_secret")]
AFTER = [("broker", "0013_event_subject_only")]


def test_a_kind_nobody_declared_is_refused_before_anything_is_stored(workspace, clock):
    with pytest.raises(KeyError):
        events.record(workspace, "lambda.mapping_created", clock=clock)
    assert not Event.objects.exists()


def test_every_kind_reads_subject_first_and_knows_its_service():
    for name, kind in events.KINDS.items():
        assert name.split(".")[0] == kind.about or kind.about in {"clock", "api"}, name
        assert kind.service in {"sqs", "sns", "lambda", "kms", "playground"}, name
    assert events.kind("mapping.poll_failed").structural is True
    assert events.kind("message.sent").structural is False


@pytest.mark.django_db(transaction=True)
def test_migrating_carries_stored_events_to_the_new_kinds_and_subjects():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    workspace = old.get_model("broker", "Workspace").objects.create(
        slug="w",
        account_id="123456789012",
        region="us-east-1",
        access_key_id="AKIAOLD",
        secret_access_key="s",
        sim_anchor=0,
        real_anchor=0,
    )
    OldEvent = old.get_model("broker", "Event")
    OldEvent.objects.create(
        workspace=workspace,
        kind="lambda.log",
        at=1,
        function="orders",
        data={"line": "Processing message: hi"},
    )
    OldEvent.objects.create(workspace=workspace, kind="kms.key_created", at=2)
    OldEvent.objects.create(workspace=workspace, kind="message.sent", at=3, queue="q")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    rows = list(Event.objects.order_by("at").values_list("kind", "subject", "queue"))
    assert rows == [
        ("function.logged", "function:orders", ""),
        ("key.created", "", ""),
        ("message.sent", "", "q"),
    ]
