"""GET /: the visitor's workspace (or the button that makes one) and the local
convention; POST /w/: make the visitor's workspace and open it."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from broker import selectors, workspaces
from playground.views.access import open_session_workspace, session_workspace


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


@require_POST
def new_workspace(request):
    workspace = open_session_workspace(request)
    return redirect("workspace", slug=workspace.slug)
