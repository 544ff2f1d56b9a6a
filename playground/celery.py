from __future__ import annotations

import os
import time

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
# When this process began: a worker starts by importing the app.
STARTED = time.time()

app = Celery("playground")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def release_claims_of_a_lost_worker(**_) -> None:
    """A worker starting may replace one that was killed: requeue what it held.

    Only what was claimed before this worker began: a step claimed while it was
    starting is waiting in Redis for it. Released, it would be claimed and queued
    again, and the two copies could run at once (an SNS endpoint got the same
    confirmation twice, 2 ms apart, from a stack whose worker was still starting)."""
    from broker import ticker

    ticker.release_claims(before=STARTED)
