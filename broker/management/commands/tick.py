"""`manage.py tick`: run the clock ticker until stopped."""

from __future__ import annotations

import signal
import time
import traceback

from django.core.management.base import BaseCommand

from broker import ticker, wakeup

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
        wakes = wakeup.QueueWakes()
        while running:
            started = time.monotonic()
            self.guarded(ticker.tick_once)
            # Until the next pass, start a trigger's poller as soon as its queue is sent to.
            while running and (left := INTERVAL - (time.monotonic() - started)) > 0:
                woken = wakes.wait(left)
                if woken:
                    self.guarded(ticker.wake_triggers, woken)
        wakes.close()

    def guarded(self, step, *args) -> None:
        try:
            step(*args)
        except Exception:  # a bad tick must not stop the clock for everyone
            self.stderr.write("tick failed", ending="\n")
            traceback.print_exc()
