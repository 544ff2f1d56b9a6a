"""A database that functions write to: down, full or slow, and what the queue does
about it (the seed's "database down for five minutes"); and the records a failed
batch makes a function process again (the seed's "4 of 6")."""

from __future__ import annotations

import json

import pytest

from broker import errors, lambdas, sqs
from broker.models import Database, Event, Invocation, Message
from broker.pipeline import databases
from tests.broker.test_lambdas import run_for, run_lambda_service
from tests.factories import make_function, make_mapping, make_poison_consumer, make_queue


def send(queue, clock, *bodies: str) -> list[str]:
    return [sqs.send_message(queue, body=b, clock=clock).message_id for b in bodies]


def test_while_the_database_is_down_the_queue_holds_the_messages_then_they_drain(workspace, clock):
    db = databases.create_database(workspace, "orders-db", clock=clock)
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=10)
    function = make_function(workspace, clock=clock, duration=1, timeout=3, database="orders-db")
    make_mapping(queue, function, clock=clock, batch_size=10)
    databases.set_down(db, seconds=databases.DOWN_FOR, clock=clock)
    send(queue, clock, "order 1", "order 2", "order 3")

    run_for(workspace, clock, 120)
    failed = Invocation.objects.filter(status=Invocation.Status.FAILED)
    assert failed.exists()
    assert not Invocation.objects.filter(status=Invocation.Status.SUCCEEDED).exists()
    assert failed.first().error == (
        "DatabaseError: could not connect to orders-db: connection refused (it is down)"
    )
    assert Message.objects.filter(queue=queue).count() == 3  # nothing lost
    db.refresh_from_db()
    assert (db.writes, db.refused % 3) == (0, 0) and db.refused >= 3

    run_for(workspace, clock, 200)  # the five minutes are over
    assert not Message.objects.filter(queue=queue).exists()
    db.refresh_from_db()
    assert db.writes == 3
    assert Invocation.objects.filter(status=Invocation.Status.SUCCEEDED).count() == 1


def test_a_database_switched_off_stays_down_until_switched_on(workspace, clock):
    db = databases.create_database(workspace, "orders-db", clock=clock)
    databases.set_down(db, clock=clock)
    clock.advance(10_000)
    assert db.is_down(clock.now())
    databases.set_up(db, clock=clock)
    assert not db.is_down(clock.now())
    kinds = list(
        Event.objects.filter(subject="database:orders-db")
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["database.created", "database.down", "database.up"]


def test_a_batch_beyond_the_database_capacity_fails(workspace, clock):
    databases.create_database(workspace, "small-db", capacity=5, clock=clock)
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=10)
    function = make_function(workspace, clock=clock, duration=1, timeout=3, database="small-db")
    make_mapping(queue, function, clock=clock, batch_size=10)
    send(queue, clock, *[f"order {i}" for i in range(8)])

    run_for(workspace, clock, 2)
    [run] = Invocation.objects.all()
    assert run.status == Invocation.Status.FAILED
    assert (
        run.error
        == "DatabaseError: small-db is at capacity (5 writes a second): too many connections"
    )
    assert json.loads(run.response)["errorType"] == "DatabaseError"
    db = Database.objects.get()
    assert (db.writes, db.refused) == (0, 8)


def test_capacity_is_counted_per_simulated_second(workspace, clock):
    db = databases.create_database(workspace, "orders-db", capacity=10, clock=clock)
    now = float(int(clock.now()))
    assert databases.write(workspace, "orders-db", records=6, now=now) == ""
    assert databases.write(workspace, "orders-db", records=6, now=now + 0.5) != ""
    assert databases.write(workspace, "orders-db", records=6, now=now + 1) == ""
    db.refresh_from_db()
    assert (db.writes, db.refused) == (12, 6)


def test_each_write_adds_the_database_latency_and_a_slow_database_times_the_run_out(
    workspace, clock
):
    databases.create_database(workspace, "slow-db", latency=0.25, clock=clock)
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=10)
    function = make_function(workspace, clock=clock, duration=1, timeout=3, database="slow-db")
    make_mapping(queue, function, clock=clock, batch_size=10)
    send(queue, clock, "a", "b")
    run_lambda_service(workspace, clock)
    [first] = Invocation.objects.all()
    assert first.ends_at - first.started_at == pytest.approx(1.5)  # 1 s + 2 writes × 0.25 s

    run_for(workspace, clock, 2)
    send(queue, clock, *"cdefghijk")  # 9 writes: 1 + 2.25 s > the 3 s timeout
    run_for(workspace, clock, 4)
    second = Invocation.objects.exclude(pk=first.pk).get()
    assert second.status == Invocation.Status.TIMED_OUT
    assert second.ends_at - second.started_at == 3


def test_a_direct_call_while_the_database_is_down_fails_and_is_lost(workspace, clock):
    db = databases.create_database(workspace, "orders-db", clock=clock)
    function = make_function(workspace, clock=clock, duration=1, timeout=3, database="orders-db")
    databases.set_down(db, clock=clock)
    invocation = lambdas.invoke(
        function, b'{"order": 1}', invocation_type="RequestResponse", clock=clock
    )
    run_for(workspace, clock, 2)
    invocation.refresh_from_db()
    assert invocation.status == Invocation.Status.FAILED
    assert invocation.error.startswith("DatabaseError: could not connect to orders-db")
    db.refresh_from_db()
    assert db.refused == 1


def test_a_function_naming_a_database_that_is_gone_fails_to_connect(workspace, clock):
    db = databases.create_database(workspace, "orders-db", clock=clock)
    function = make_function(workspace, clock=clock, duration=1, timeout=3, database="orders-db")
    databases.delete_database(db, clock=clock)
    invocation = lambdas.invoke(function, b"{}", invocation_type="RequestResponse", clock=clock)
    run_for(workspace, clock, 2)
    invocation.refresh_from_db()
    assert invocation.error == "DatabaseError: could not connect to orders-db: no such database"


def test_an_invocation_finished_twice_writes_once(workspace, clock):
    databases.create_database(workspace, "orders-db", clock=clock)
    function = make_function(workspace, clock=clock, duration=1, timeout=3, database="orders-db")
    invocation = lambdas.invoke(function, b"{}", invocation_type="RequestResponse", clock=clock)
    clock.advance(2)
    stale = Invocation.objects.get(pk=invocation.pk)
    assert lambdas.finish_invocation(invocation, clock=clock)
    assert not lambdas.finish_invocation(stale, clock=clock)
    assert Database.objects.get().writes == 1


def test_boto3_code_names_the_database_with_an_environment_variable(workspace, clock):
    function = make_function(
        workspace,
        clock=clock,
        environment={"PLAYGROUND_DURATION": "0.5", "PLAYGROUND_DATABASE": "orders-db"},
    )
    assert function.database == "orders-db"
    with pytest.raises(errors.InvalidParameterValueException):
        make_function(
            workspace, "other", clock=clock, environment={"PLAYGROUND_DATABASE": "no way"}
        )


@pytest.mark.parametrize(
    ("capacity", "latency", "field"),
    [
        (0, 0.01, "capacity"),
        (10**9, 0.01, "capacity"),
        (10, float("nan"), "latency"),
        (10, -1, "latency"),
    ],
)
def test_nonsense_database_settings_are_refused(workspace, clock, capacity, latency, field):
    with pytest.raises(errors.InvalidParameterValueException) as raised:
        databases.create_database(workspace, "db", capacity=capacity, latency=latency, clock=clock)
    assert raised.value.field == field
    assert not Database.objects.exists()


def test_a_database_name_is_taken_once(workspace, clock):
    databases.create_database(workspace, "db", clock=clock)
    with pytest.raises(errors.ResourceConflictException):
        databases.create_database(workspace, "db", clock=clock)


# --- the seed's 4 of 6 ----------------------------------------------------------------

SIX = ["order 1", "order 2", "order 3", "order 4", "poison 5", "poison 6"]


@pytest.mark.parametrize(
    ("reports", "again", "redone"),
    [(False, 6, 4), (True, 2, 0)],
    ids=["whole-batch", "report-batch-item-failures"],
)
def test_a_failed_batch_makes_the_function_process_its_four_good_records_again(
    workspace, clock, reports, again, redone
):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=5)
    function = make_poison_consumer(queue, clock=clock, reports=reports, batch_size=6, timeout=3)
    sqs.send_message_batch(
        queue, [{"Id": str(i), "MessageBody": b} for i, b in enumerate(SIX)], clock=clock
    )
    run_for(workspace, clock, 7)  # one failed run, and the returned records handed over again
    function.refresh_from_db()
    assert (function.records_again, function.records_redone) == (again, redone)
    started = Event.objects.filter(kind="invocation.started").order_by("id")
    assert [(e.data["again"], e.data["redone"]) for e in started] == [(0, 0), (again, redone)]
