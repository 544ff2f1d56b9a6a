"""Workspaces: a sandbox per visitor, with its own credentials and clock.

The local-emulator convention (README, settings `PLAYGROUND_LOCAL_CREDENTIALS`):
the secret `test` is accepted with any access key id, so scripts written for other
local emulators run unchanged. A 12-digit access key id selects the workspace of
that account id (created on first use); any other key the default account.
"""

from __future__ import annotations

import datetime
import re
import secrets
import string
import time
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from broker import clock as clocks
from broker import costs, events
from broker.models import Workspace

LOCAL_SECRET = "test"
DEFAULT_ACCOUNT_ID = "000000000000"
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
_KEY_ALPHABET = string.ascii_uppercase + string.digits


def local_credentials_enabled() -> bool:
    return bool(settings.PLAYGROUND_LOCAL_CREDENTIALS)


def _new_account_id() -> str:
    while True:
        candidate = "".join(secrets.choice(string.digits) for _ in range(12))
        if (
            candidate != DEFAULT_ACCOUNT_ID
            and not Workspace.objects.filter(account_id=candidate).exists()
        ):
            return candidate


def create_workspace(*, account_id: str | None = None, local_convention: bool = False) -> Workspace:
    """A new workspace with fresh credentials and a clock at ×1 starting now, and its
    first run of usage counts (`broker/costs.py`)."""
    workspace = Workspace.objects.create(
        slug=secrets.token_urlsafe(12),
        account_id=account_id or _new_account_id(),
        region=settings.PLAYGROUND_REGION,
        access_key_id="AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
        secret_access_key=secrets.token_urlsafe(30)[:40],
        local_convention=local_convention,
        aws_strict=(
            settings.PLAYGROUND_STRICT_LOCAL_ACCOUNTS
            if local_convention
            else settings.PLAYGROUND_STRICT_WORKSPACES
        ),
        **clocks.start_anchor(),
    )
    # Also zeroes counts left under this id by a workspace whose creation rolled back.
    costs.start_run(workspace, now=clocks.for_workspace(workspace).now())
    return workspace


# A workspace's `last_used` is written at most this often per process (wall seconds):
# a busy workspace costs one dictionary look-up per request, not a write.
MARK_USED_EVERY = 600.0
_marked: dict[int, float] = {}  # workspace id -> when this process last wrote it


def mark_used(workspace: Workspace) -> None:
    """Note that somebody reached the workspace (a page, form, socket or API call)."""
    now = time.monotonic()
    if now - _marked.get(workspace.pk, -MARK_USED_EVERY) < MARK_USED_EVERY:
        return
    _marked[workspace.pk] = now
    Workspace.objects.filter(pk=workspace.pk).update(last_used=timezone.now())


def expire_unused(*, now: datetime.datetime | None = None) -> int:
    """Delete the browsers' workspaces unused for PLAYGROUND_WORKSPACE_EXPIRY_DAYS, and
    the expired sessions; returns how many workspaces went.

    Anyone can make a workspace with one POST, so without this they would pile up.
    Each goes in its own transaction with everything in it (the foreign keys cascade);
    a browser whose workspace went is offered a new one on the home page.
    """
    days = settings.PLAYGROUND_WORKSPACE_EXPIRY_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    unused = Workspace.objects.filter(local_convention=False, last_used__lt=cutoff)
    expired = 0
    for pk in unused.values_list("pk", flat=True):
        with transaction.atomic():
            # Looked at again inside the transaction: a call may have just reached it.
            expired += bool(unused.filter(pk=pk).delete()[0])
        _marked.pop(pk, None)
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return expired


@transaction.atomic
def set_strict(workspace: Workspace, strict: bool, *, clock) -> None:
    """Switch between AWS's strict rules and the relaxed ones of local emulators."""
    workspace.aws_strict = strict
    workspace.save(update_fields=["aws_strict"])
    events.record(workspace, "account.strictness_changed", data={"strict": strict}, clock=clock)


def local_workspace(account_id: str) -> Workspace:
    """The workspace of a local-convention account id, created on first use."""
    found = Workspace.objects.filter(account_id=account_id).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return create_workspace(account_id=account_id, local_convention=True)
    except IntegrityError:  # another request created it first
        return Workspace.objects.get(account_id=account_id)


@dataclass(frozen=True)
class Credentials:
    """What an access key id stands for: the secret to check its signature against."""

    secret: str
    account_id: str
    workspace: Workspace | None  # None: a local-convention account with no workspace yet

    def open_workspace(self) -> Workspace:
        """The workspace, created now for a new local-convention account: call it only
        once the signature is verified, so a refused request creates nothing."""
        return self.workspace or local_workspace(self.account_id)


def resolve_credentials(access_key_id: str) -> Credentials | None:
    """The credentials of an access key id, or None if unknown; writes nothing.

    A workspace's own key wins; otherwise, with the local convention on, the key
    maps to an account and the secret to check is `test`.
    """
    own = Workspace.objects.filter(access_key_id=access_key_id).first()
    if own is not None:
        return Credentials(own.secret_access_key, own.account_id, own)
    if not local_credentials_enabled():
        return None
    account = access_key_id if ACCOUNT_ID_RE.match(access_key_id) else DEFAULT_ACCOUNT_ID
    return Credentials(LOCAL_SECRET, account, Workspace.objects.filter(account_id=account).first())
