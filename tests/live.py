"""A live playground for API and browser tests: the real processes on a loopback port.

Daphne, a Celery worker and the ticker run as separate processes against their own
SQLite file and the test run's Redis (tests/services.py), exactly as `make run`
starts them. Tests talk to it only over HTTP and websockets, as a user would.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from playground.stack import Stack, free_port


def start_live_stack(*, env: dict | None = None, name: str = "live") -> Stack:
    workdir = Path(tempfile.mkdtemp(prefix=f"playground-{name}-",
                                    dir=os.environ.get("PLAYGROUND_TEST_WORKDIR")))
    redis_db = abs(hash(workdir)) % 14 + 1  # its own Redis db, apart from the unit tests'
    base_redis = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    full_env = {
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "REDIS_URL": f"{base_redis}/{redis_db}",
        "DJANGO_DEBUG": "true",
        **(env or {}),
    }
    if os.environ.get("PLAYGROUND_TEST_DB") == "postgres" and "DATABASE_URL" in os.environ:
        full_env["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    stack = Stack(port=free_port(), workdir=workdir, env=full_env, quiet=True)
    return stack.start()
