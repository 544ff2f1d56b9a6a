"""Compiled statements (broker/statements.py) give what the ORM gives, for new values."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from broker import statements
from broker.models import Event, Queue, QueueTally
from tests.factories import make_queue

by_name = statements.Select(
    lambda workspace_id, name: Queue.objects.filter(workspace_id=workspace_id, name=name)[:1],
    workspace_id=-1,
    name="\x00",
)


def test_a_compiled_select_reads_the_rows_the_orm_reads(workspace, clock):
    orders = make_queue(
        workspace, "orders", clock=clock, VisibilityTimeout=45, SqsManagedSseEnabled="false"
    )
    queue = make_queue(workspace, "audit.fifo", clock=clock, FifoQueue="true")
    Queue.objects.filter(pk=queue.pk).update(tags={"team": "ops"})

    for wanted in (orders, queue):
        [found] = by_name.all(workspace_id=workspace.pk, name=wanted.name)
        orm = Queue.objects.get(pk=wanted.pk)
        assert model_to_dict(found) == model_to_dict(orm)
        assert found._state.adding is False and found._state.db == "default"
    # Converted as the ORM converts: JSON to dicts, integers to booleans.
    audit = by_name.first(workspace_id=workspace.pk, name="audit.fifo")
    assert audit.tags == {"team": "ops"}
    assert by_name.first(workspace_id=workspace.pk, name="orders").sqs_managed_sse is False
    assert by_name.first(workspace_id=workspace.pk, name="missing") is None
    assert by_name.first(workspace_id=workspace.pk + 1, name="orders") is None


def test_a_select_refuses_samples_it_cannot_place(workspace):
    twice = statements.Select(
        lambda a, b: Queue.objects.filter(name=a, dead_letter_target_arn=b), a="x", b="x"
    )
    with pytest.raises(ValueError, match="not unique"):
        twice.all(a="orders", b="orders")
    unused = statements.Select(lambda a, b: Queue.objects.filter(name=a), a="x", b="y")
    with pytest.raises(ValueError, match="not bound"):
        unused.all(a="orders", b="y")


def test_insert_writes_the_rows_bulk_create_writes(workspace, clock):
    made = statements.insert(
        [
            Event(workspace=workspace, kind="api.call", at=1.5, data={"action": "SendMessage"}),
            Event(workspace=workspace, kind="message.sent", at=2.0, queue="orders"),
        ]
    )
    by_orm = Event.objects.bulk_create(
        [
            Event(workspace=workspace, kind="api.call", at=1.5, data={"action": "SendMessage"}),
            Event(workspace=workspace, kind="message.sent", at=2.0, queue="orders"),
        ]
    )
    assert all(e.pk and e._state.adding is False for e in made)
    assert made[0].pk < made[1].pk < by_orm[0].pk
    stored = {e.pk: e for e in Event.objects.filter(pk__in=[e.pk for e in made + by_orm])}
    for ours, theirs in zip(made, by_orm, strict=True):
        mine, orm = model_to_dict(stored[ours.pk]), model_to_dict(stored[theirs.pk])
        mine.pop("id"), orm.pop("id")
        assert mine == orm


def test_an_insert_too_large_for_one_statement_goes_through_bulk_create(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    rows = [QueueTally(queue=queue, messages=1) for _ in range(statements.MAX_INSERT_PARAMS)]
    statements.insert(rows)
    assert all(r.pk for r in rows)
    assert QueueTally.objects.filter(queue=queue, messages=1).count() == len(rows)
