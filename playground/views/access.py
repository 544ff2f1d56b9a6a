"""Who may see which workspace.

A browser owns the workspace whose id its session holds, created when its
visitor asks for one (a POST from the home page): a page view creates nothing, so
crawlers and scripts that only GET cannot fill the database. Local-convention workspaces (secret `test`) may be watched by anyone
while that convention is switched on. Every other workspace page answers 404,
so guessing a slug tells nothing.
"""

from __future__ import annotations

from django.http import Http404

from broker import selectors, workspaces
from broker.models import Workspace

SESSION_KEY = "workspace_id"


def session_workspace(request) -> Workspace | None:
    """The visitor's own workspace, if this browser has made one."""
    return selectors.workspace_by_id(request.session.get(SESSION_KEY))


def open_session_workspace(request) -> Workspace:
    """The visitor's own workspace, created now if this browser has none."""
    workspace = session_workspace(request)
    if workspace is None:
        workspace = workspaces.create_workspace()
        request.session[SESSION_KEY] = workspace.pk
    return workspace


def can_watch(session, workspace: Workspace) -> bool:
    if workspace.local_convention:
        return workspaces.local_credentials_enabled()
    owned = session.get(SESSION_KEY) if session is not None else None
    if owned is None:
        return False
    # The browser's account in another region (made by a call signed for it) is its too.
    return owned == workspace.pk or selectors.same_account(owned, workspace)


def watchable_workspace(session, slug: str) -> Workspace | None:
    workspace = selectors.workspace_by_slug(slug)
    if workspace is None or not can_watch(session, workspace):
        return None
    workspaces.mark_used(workspace)
    return workspace


def workspace_or_404(request, slug: str) -> Workspace:
    workspace = watchable_workspace(request.session, slug)
    if workspace is None:
        raise Http404("No such workspace.")
    return workspace
