from __future__ import annotations

import os
import time

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

app = Celery("playground")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def release_claims_of_a_lost_worker(**_) -> None:
    """A worker starting may replace one that was killed: requeue what it held."""
    from broker import ticker

    ticker.release_claims(before=time.time())
