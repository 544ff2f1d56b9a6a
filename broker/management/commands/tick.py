"""`manage.py tick`: run the clock ticker until stopped."""

from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand

from broker import ticker

INTERVAL = 0.05  # wall seconds: 20 ticks a second keeps ×100 visibly smooth


class Command(BaseCommand):
    help = "Wake visibility expiries, delays and function completions as simulated time passes."

    def handle(self, *args, **options):
        running = True

        def stop(*_):
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while running:
            started = time.monotonic()
            try:
                ticker.tick_once()
            except Exception:  # a bad tick must not stop the clock for everyone
                self.stderr.write("tick failed", ending="\n")
                import traceback

                traceback.print_exc()
            time.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))
