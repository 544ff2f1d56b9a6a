"""The AWS endpoint (placeholder until the wire protocols land)."""

from __future__ import annotations

from django.http import HttpResponse


def is_aws_request(request) -> bool:
    return request.method == "POST" and (
        "HTTP_X_AMZ_TARGET" in request.META or "HTTP_AUTHORIZATION" in request.META
    )


async def endpoint(request):
    return HttpResponse(status=501)


async def queue_url_endpoint(request, account_id: str, queue_name: str):
    return HttpResponse(status=501)
