"""The URLs of an SDK's request that `broker/api/asgi.py` does not answer itself.

That app answers the server root and the queue URL paths (SQS's, and KMS's by their
target) and Lambda's REST paths; here are the developer peek, the local emulators'
own, and for any other path of a signed request an AWS error in JSON, never a page.
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

handler500 = views.internal_failure

urlpatterns = [
    path("_aws/sqs/messages", csrf_exempt(developer.messages)),
    path(
        "_aws/sqs/messages/<str:region>/<str:account_id>/<str:queue_name>",
        csrf_exempt(developer.messages),
    ),
    re_path(r"", csrf_exempt(views.unknown_path)),
]
