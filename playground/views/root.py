"""The server root: the AWS endpoint for SDKs and the CLI, the home page for people.

boto3 and the AWS CLI use the server root as `endpoint_url` and POST there; a
browser GETs it. AWS requests are recognised by their shape (protocols.md §1).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpResponse

from broker.api import views as aws
from playground.views import home


async def root(request):
    if aws.is_aws_request(request):
        return await aws.endpoint(request)
    return await sync_to_async(home.home)(request)


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")
