"""GetFunction's `Code.Location`: a link that downloads a function's zip, unsigned, for
ten minutes, as AWS's presigned S3 link does.

The link carries a token signed with the server's SECRET_KEY naming the function and
the digest of its code, so it opens that zip only, and only until the code changes.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from broker.models import Function

SALT = "lambda-code-location"
VALID_FOR = 600  # seconds


def download_path(function: Function) -> str:
    token = signing.dumps([function.pk, function.code_sha256], salt=SALT, compress=True)
    # The AWS endpoint resolves with its own URLconf; this link is a page's.
    return reverse("lambda-code", kwargs={"token": token}, urlconf=settings.ROOT_URLCONF)


@require_GET
def download(request, token: str):
    try:
        pk, digest = signing.loads(token, salt=SALT, max_age=VALID_FOR)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404("This link has expired or was never valid.") from None
    function = Function.objects.filter(pk=pk, code_sha256=digest).first()
    if function is None or not function.code:
        raise Http404("This function's code has changed or is gone.")
    response = HttpResponse(bytes(function.code), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{function.name}.zip"'
    return response
