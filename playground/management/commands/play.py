"""`manage.py play`: the whole playground in one command (what `make run` runs)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from playground.stack import Stack, default_web_processes


class Command(BaseCommand):
    help = "Run Daphne, a Celery worker and the clock ticker (and Redis when REDIS_URL is unset)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
        parser.add_argument(
            "--web",
            type=int,
            default=None,
            help="Daphne processes (default: 1 on SQLite, one per core otherwise)",
        )

    def handle(self, *args, port, host, workers, web, **options):
        workdir = Path(settings.BASE_DIR) / ".playground"
        if web is None:
            web = default_web_processes(os.environ.get("DATABASE_URL"))
        stack = Stack(port=port, host=host, workdir=workdir, workers=workers, web=web)
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            stack.start()
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nThe playground is running on http://{host}:{port}/  (Ctrl-C stops everything)\n"
                )
            )
            while not stopping:
                for name, code in stack.supervise():
                    self.stderr.write(f"{name} exited with {code}; restarting it.")
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("Stopping…")
            stack.stop()
