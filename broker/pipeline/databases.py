"""Databases that simulated functions write to: one write per record of a batch.

A database takes `capacity` writes a simulated second, each `latency` seconds long
(they add to the invocation's duration), and can be taken down, for a while or until
switched on. A batch whose writes it cannot take fails the invocation, as the
function's driver would raise; through a trigger the messages come back and are
written once the database is back, a direct call's request is lost.
"""

from __future__ import annotations

import math
import re

from django.db import IntegrityError, transaction
from django.db.models import F

from broker import errors, events
from broker.models import Database

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_CAPACITY = 1_000_000
MAX_LATENCY = 60.0  # seconds per write
DOWN_FOR = 300  # the "down for five minutes" button


def _check(*, name=None, capacity=None, latency=None) -> None:
    if name is not None and not NAME_RE.match(name):
        raise errors.InvalidParameterValueException(
            "A database name is 1 to 64 letters, digits, hyphens or underscores.", field="name"
        )
    if capacity is not None and (
        not isinstance(capacity, int)
        or isinstance(capacity, bool)
        or not 1 <= capacity <= MAX_CAPACITY
    ):
        raise errors.InvalidParameterValueException(
            f"Capacity must be a whole number of writes a second from 1 to {MAX_CAPACITY:,}.",
            field="capacity",
        )
    if latency is not None and (
        isinstance(latency, bool)
        or not isinstance(latency, (int, float))
        or not math.isfinite(latency)
        or not 0 <= latency <= MAX_LATENCY
    ):
        raise errors.InvalidParameterValueException(
            f"Latency must be a number of seconds from 0 to {MAX_LATENCY:g}.", field="latency"
        )


def describe(database: Database) -> dict:
    return {
        "capacity": database.capacity,
        "latency": database.latency,
        "down": database.down,
        "down_until": database.down_until,
    }


def _record(database: Database, kind: str, *, clock) -> None:
    events.record(
        database.workspace,
        kind,
        subject=events.subject("database", database.name),
        data=describe(database),
        clock=clock,
    )


def create_database(
    workspace, name: str, *, capacity: int = 100, latency: float = 0.01, clock
) -> Database:
    """A new database, up. Raises InvalidParameterValueException for a bad value and
    ResourceConflictException for a name taken (field = the form's)."""
    _check(name=name, capacity=capacity, latency=latency)
    try:
        with transaction.atomic():
            database = Database.objects.create(
                workspace=workspace,
                name=name,
                capacity=capacity,
                latency=float(latency),
                created_at=clock.now(),
            )
            _record(database, "database.created", clock=clock)
    except IntegrityError:
        raise errors.ResourceConflictException(
            f"A database named {name} already exists.", field="name"
        ) from None
    return database


@transaction.atomic
def update_database(database: Database, *, capacity=None, latency=None, clock) -> Database:
    _check(capacity=capacity, latency=latency)
    if capacity is not None:
        database.capacity = capacity
    if latency is not None:
        database.latency = float(latency)
    database.save(update_fields=["capacity", "latency"])
    _record(database, "database.updated", clock=clock)
    return database


@transaction.atomic
def set_down(database: Database, *, seconds: float | None = None, clock) -> Database:
    """Take it down: for `seconds` of simulated time, or (None) until `set_up`."""
    database.down = True
    database.down_until = None if seconds is None else clock.now() + seconds
    database.save(update_fields=["down", "down_until"])
    _record(database, "database.down", clock=clock)
    return database


@transaction.atomic
def set_up(database: Database, *, clock) -> Database:
    database.down, database.down_until = False, None
    database.save(update_fields=["down", "down_until"])
    _record(database, "database.up", clock=clock)
    return database


@transaction.atomic
def delete_database(database: Database, *, clock) -> None:
    """Delete it; functions that still name it fail to connect, as they would."""
    workspace, name = database.workspace, database.name
    database.delete()
    events.record(
        workspace, "database.deleted", subject=events.subject("database", name), clock=clock
    )


def latency(workspace, name: str, *, records: int) -> float:
    """The simulated seconds `records` writes add to an invocation (0: no such database)."""
    database = Database.objects.filter(workspace=workspace, name=name).first()
    return 0.0 if database is None else database.latency * records


def write(workspace, name: str, *, records: int, now: float) -> str:
    """Take one write per record at simulated instant `now`; "" when taken, else the
    error the function's driver would raise. Counted on the database either way.

    Conditional UPDATEs, so concurrent finishes never take more than the capacity of
    a second, nor lose a count."""
    database = Database.objects.filter(workspace=workspace, name=name).first()
    if database is None:
        return f"DatabaseError: could not connect to {name}: no such database"
    if database.is_down(now):
        error = f"DatabaseError: could not connect to {name}: connection refused (it is down)"
    elif _take(database, records, second=int(now)):
        return ""
    else:
        error = (
            f"DatabaseError: {name} is at capacity ({database.capacity:,} writes a second): "
            "too many connections"
        )
    Database.objects.filter(pk=database.pk).update(refused=F("refused") + records)
    return error


def _take(database: Database, records: int, *, second: int) -> bool:
    row = Database.objects.filter(pk=database.pk)
    taken = F("writes") + records
    same_second = row.filter(second=second, used__lte=database.capacity - records)
    if same_second.update(used=F("used") + records, writes=taken):
        return True
    if records > database.capacity:
        return False
    # The first writes of a new second; or another finish has just begun it: try it again.
    return bool(
        row.exclude(second=second).update(second=second, used=records, writes=taken)
        or same_second.update(used=F("used") + records, writes=taken)
    )
