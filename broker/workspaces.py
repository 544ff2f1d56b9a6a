"""Workspaces: a sandbox per visitor, with its own credentials and clock.

The local-emulator convention (README, settings `PLAYGROUND_LOCAL_CREDENTIALS`):
the secret `test` is accepted with any access key id, so scripts written for other
local emulators run unchanged. A 12-digit access key id selects the workspace of
that account id (created on first use); any other key the default account.

Regions are separate namespaces, as on AWS: a workspace is one account in one
region, and a call signed for another region reaches (and on first use creates)
that region's workspace of the same account, with the same keys. A queue made
through us-west-1 is not the us-east-1 queue of the same name.
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
from django.db.models import Max, Q
from django.utils import timezone

from broker import clock as clocks
from broker import costs, events, statements
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


def create_workspace(
    *, account_id: str | None = None, local_convention: bool = False, region: str | None = None
) -> Workspace:
    """A new workspace with fresh credentials and a clock at ×1 starting now, and its
    first run of usage counts (`broker/costs.py`)."""
    workspace = Workspace.objects.create(
        slug=secrets.token_urlsafe(12),
        account_id=account_id or _new_account_id(),
        region=region or settings.PLAYGROUND_REGION,
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
    return _start(workspace)


def _start(workspace: Workspace) -> Workspace:
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
    """Delete the browsers' accounts unused for PLAYGROUND_WORKSPACE_EXPIRY_DAYS (every
    region of each), and the expired sessions; returns how many workspaces went.

    Anyone can make a workspace with one POST, so without this they would pile up.
    Each goes in its own transaction with everything in it (the foreign keys cascade);
    a browser whose workspace went is offered a new one on the home page.
    """
    days = settings.PLAYGROUND_WORKSPACE_EXPIRY_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    browsers = Workspace.objects.filter(local_convention=False)
    # An account goes with all its regions, once none was used: the browser that owns
    # it may be working in another region than its first.
    unused = (
        browsers.values("account_id").annotate(newest=Max("last_used")).filter(newest__lt=cutoff)
    )
    expired = 0
    for account in unused.values_list("account_id", flat=True):
        with transaction.atomic():
            regions = browsers.filter(account_id=account)
            # Looked at again inside the transaction: a call may have just reached it.
            if regions.filter(last_used__gte=cutoff).exists():
                continue
            gone = list(regions.values_list("pk", flat=True))
            expired += regions.delete()[1].get(Workspace._meta.label, 0)
        for pk in gone:
            _marked.pop(pk, None)
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return expired


@transaction.atomic
def set_strict(workspace: Workspace, strict: bool, *, clock) -> None:
    """Switch between AWS's strict rules and the relaxed ones of local emulators."""
    workspace.aws_strict = strict
    workspace.save(update_fields=["aws_strict"])
    events.record(workspace, "account.strictness_changed", data={"strict": strict}, clock=clock)


def _made_once(account_id: str, region: str, make) -> Workspace:
    """The account's workspace in the region, made by `make()` on first use: once,
    however many requests race to make it."""
    found = Workspace.objects.filter(account_id=account_id, region=region).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return make()
    except IntegrityError:  # another request created it first
        return Workspace.objects.get(account_id=account_id, region=region)


def local_workspace(account_id: str, region: str | None = None) -> Workspace:
    """The workspace of a local-convention account id in a region (by default the
    playground's), created on first use."""
    region = region or settings.PLAYGROUND_REGION
    return _made_once(
        account_id,
        region,
        lambda: create_workspace(account_id=account_id, local_convention=True, region=region),
    )


def region_workspace(home: Workspace, region: str) -> Workspace:
    """`home`'s account in another region, created on first use with the same keys and
    rules (a clock and a rules switch of its own from then on): the browser that owns
    `home` owns it too."""
    if region == home.region:
        return home
    return _made_once(
        home.account_id,
        region,
        lambda: _start(
            Workspace.objects.create(
                slug=secrets.token_urlsafe(12),
                account_id=home.account_id,
                region=region,
                access_key_id=home.access_key_id,
                secret_access_key=home.secret_access_key,
                local_convention=home.local_convention,
                aws_strict=home.aws_strict,
                **clocks.start_anchor(),
            )
        ),
    )


def arn_scope(workspace: Workspace, arn) -> dict:
    """Filter arguments for the resources an ARN of the workspace's account names: the
    workspace's own in its region, else the account's workspace of the ARN's region."""
    if arn.region == workspace.region:
        return {"workspace": workspace}
    return {"workspace__account_id": arn.account, "workspace__region": arn.region}


@dataclass(frozen=True)
class Credentials:
    """What an access key id stands for in a region: the secret to check its signature
    against, and the workspace the call reaches."""

    secret: str
    account_id: str
    region: str
    workspace: Workspace | None  # None: that region's workspace does not exist yet
    home: Workspace | None = None  # a workspace of the account in another region

    def open_workspace(self) -> Workspace:
        """The workspace, created now for a region the account has not used: call it only
        once the signature is verified, so a refused request creates nothing."""
        if self.workspace is not None:
            return self.workspace
        if self.home is not None:
            return region_workspace(self.home, self.region)
        return local_workspace(self.account_id, self.region)


# Every SDK call runs one of these: compiled once (broker/statements.py).
_by_pk = statements.Select(lambda pk: Workspace.objects.filter(pk=pk), pk=-1)
_by_key = statements.Select(lambda key: Workspace.objects.filter(access_key_id=key), key="\x00key")
_by_key_or_account = statements.Select(
    lambda key, account: Workspace.objects.filter(Q(access_key_id=key) | Q(account_id=account)),
    key="\x00key",
    account="\x00account",
)


def reload(workspace: Workspace) -> Workspace:
    """The workspace as stored now (its clock may have changed); DoesNotExist if gone."""
    found = _by_pk.first(pk=workspace.pk)
    if found is None:
        raise Workspace.DoesNotExist()
    return found


def resolve_credentials(access_key_id: str, region: str | None = None) -> Credentials | None:
    """The credentials of an access key id for a region, or None if unknown; writes
    nothing.

    A workspace's own key wins (in any region of its account); otherwise, with the
    local convention on, the key maps to an account and the secret to check is `test`.
    """
    region = region or settings.PLAYGROUND_REGION
    local = local_credentials_enabled()
    account = access_key_id if ACCOUNT_ID_RE.match(access_key_id) else DEFAULT_ACCOUNT_ID
    # One query on the hot path: the key's workspaces and the local account's regions.
    if local:
        found = _by_key_or_account.all(key=access_key_id, account=account)
    else:
        found = _by_key.all(key=access_key_id)
    owned = [w for w in found if w.access_key_id == access_key_id]
    if owned:
        own = next((w for w in owned if w.region == region), None)
        home = own or owned[0]
        return Credentials(home.secret_access_key, home.account_id, region, own, home)
    if not local:
        return None
    if any(not w.local_convention for w in found):
        return None  # a browser's account: only its own key reaches it
    here = next((w for w in found if w.region == region), None)
    return Credentials(LOCAL_SECRET, account, region, here)
