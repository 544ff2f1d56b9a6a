from __future__ import annotations

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from broker.api import views as aws
from playground.views import root

urlpatterns = [
    path("", csrf_exempt(root.root), name="home"),
    path("healthz", root.healthz, name="healthz"),
    # Old SDKs POST query-protocol requests to the queue URL itself (protocols.md §1).
    re_path(r"^(?P<account_id>\d{12})/(?P<queue_name>[A-Za-z0-9_-]{1,80}(\.fifo)?)$",
            csrf_exempt(aws.queue_url_endpoint), name="aws-queue-url"),
]
