"""The URLs an SDK's request can reach (`playground/asgi.py` sends it here).

The server root and a queue URL path are SQS's (and KMS's, by their target); the
developer peek is the local emulators' own; Lambda's REST paths are Lambda's. Any
other path of a signed request gets an AWS error in JSON, never a page.
"""

from __future__ import annotations

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from broker.api import developer, views

# `/<account>/<queue name>` (`/queue/<region>/…` outside the playground's region): old
# SDKs POST query-protocol requests to the queue URL itself.
QUEUE_URL_PATH = (
    r"^(?:queue/(?P<region>[a-z0-9-]{1,32})/)?"
    r"(?P<account_id>\d{12})/(?P<queue_name>[A-Za-z0-9_-]{1,80}(\.fifo)?)$"
)

urlpatterns = [
    path("", csrf_exempt(views.endpoint)),
    re_path(QUEUE_URL_PATH, csrf_exempt(views.queue_url_endpoint)),
    path("_aws/sqs/messages", csrf_exempt(developer.messages)),
    path(
        "_aws/sqs/messages/<str:region>/<str:account_id>/<str:queue_name>",
        csrf_exempt(developer.messages),
    ),
    re_path(r"^(?:2015-03-31|2017-10-31|2019-09-30)/", csrf_exempt(views.rest_endpoint)),
    re_path(r"", csrf_exempt(views.unknown_path)),
]
