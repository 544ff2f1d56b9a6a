"""The SigningCertURL of a workspace's SNS envelopes: its certificate, as a PEM file.

Public, as AWS's certificates are: a subscriber fetches it to verify a signature.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse

from broker.models import SigningCertificate


def signing_certificate(request, account_id: str, name: str):
    cert = (
        SigningCertificate.objects.filter(workspace__account_id=account_id, name=name)
        .only("certificate")
        .first()
    )
    if cert is None:
        raise Http404("No such certificate.")
    return HttpResponse(cert.certificate, content_type="application/x-pem-file")
