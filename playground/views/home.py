"""GET /: the visitor's workspace (created at once) and the local convention."""

from __future__ import annotations

from django.shortcuts import render

from broker import selectors, workspaces
from playground.views.access import session_workspace


def home(request):
    workspace = session_workspace(request)
    local = workspaces.local_credentials_enabled()
    return render(
        request,
        "playground/home.html",
        {
            "workspace": workspace,
            "local_enabled": local,
            "local_workspaces": selectors.local_workspaces() if local else [],
            "default_account": workspaces.DEFAULT_ACCOUNT_ID,
            "endpoint": request.build_absolute_uri("/"),
        },
    )
