"""A live playground for API and browser tests: the real processes on a loopback port.

Daphne, a Celery worker and the ticker run as separate processes against their own
database and the test run's Redis (tests/services.py), exactly as `make run`
starts them: a SQLite file of their own, or with `PLAYGROUND_TEST_DB=postgres` a
database of their own on the run's PostgreSQL server, created here before the
stack migrates it. Tests talk to it only over HTTP and websockets, as a user would.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from pathlib import Path

import redis

from playground.stack import Stack, free_port
from tests.services import create_database

_redis_dbs = itertools.cycle(range(1, 16))


def own_redis_url() -> str:
    """A Redis db of its own (1-15, apart from the unit tests' db 0), emptied: two stacks
    sharing one would take each other's Celery tasks, for another database."""
    url = f"{os.environ['REDIS_URL'].rsplit('/', 1)[0]}/{next(_redis_dbs)}"
    redis.Redis.from_url(url).flushdb()
    return url


def start_live_stack(*, env: dict | None = None, name: str = "live") -> Stack:
    workdir = Path(
        tempfile.mkdtemp(
            prefix=f"playground-{name}-", dir=os.environ.get("PLAYGROUND_TEST_WORKDIR")
        )
    )
    database_url = f"sqlite:///{workdir / 'db.sqlite3'}"
    pg_server = os.environ.get("PLAYGROUND_TEST_PG_SERVER")
    if os.environ.get("PLAYGROUND_TEST_DB") == "postgres" and pg_server:
        suffix = re.sub(r"[^a-z0-9_]", "_", workdir.name.lower())
        database_url = create_database(pg_server, f"live_{suffix}")
    full_env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": own_redis_url(),
        **(env or {}),
    }
    stack = Stack(port=free_port(), workdir=workdir, env=full_env, quiet=True)
    try:
        return stack.start()
    except BaseException:
        stack.stop()  # no orphaned Redis/Daphne/worker when one of them fails to start
        raise
