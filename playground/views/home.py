from __future__ import annotations

from django.http import HttpResponse


def home(request):
    return HttpResponse("SQS & SNS Playground")
