"""Nobody opens another's workspace by writing a session: sessions live on the server,
and the key that signs the rest is made at random for each installation."""

from __future__ import annotations

import multiprocessing
import stat

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import signing
from django.test import Client

from broker.models import Workspace
from playground.asgi import application
from playground.settings import read_or_create_key, secret_key


def forged_session_cookie(workspace: Workspace) -> str:
    """What Django's signed-cookie sessions would accept for `workspace`, signed with the
    server's own key: the cookie an attacker makes who knows it (as the development key
    once was, in the source)."""
    return signing.dumps(
        {"workspace_id": workspace.pk},
        compress=True,
        salt="django.contrib.sessions.backends.signed_cookies",
        serializer=signing.JSONSerializer,
    )


def owned_workspace() -> Workspace:
    owner = Client()
    owner.post("/w/")
    return Workspace.objects.get(pk=owner.session["workspace_id"])


@pytest.mark.django_db
def test_a_forged_session_cookie_opens_no_workspace_page():
    workspace = owned_workspace()
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = forged_session_cookie(workspace)
    assert attacker.get(f"/w/{workspace.slug}/").status_code == 404
    assert attacker.post(f"/w/{workspace.slug}/queues/", {"name": "x"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_forged_session_cookie_opens_no_workspace_websocket():
    workspace = owned_workspace()
    cookie = f"{settings.SESSION_COOKIE_NAME}={forged_session_cookie(workspace)}"

    async def scenario():
        communicator = WebsocketCommunicator(
            application,
            f"/ws/w/{workspace.slug}/?page=workspace",
            headers=[(b"host", b"testserver"), (b"cookie", cookie.encode())],
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected is False

    async_to_sync(scenario)()


def test_without_a_configured_key_one_is_made_at_random_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    first = secret_key()
    assert len(first) >= 50
    assert secret_key() == first  # kept: a restart opens what the last run sealed
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert read_or_create_key(tmp_path / "another" / "secret_key") != first


def test_processes_that_start_together_agree_on_one_key(tmp_path):
    path = tmp_path / "secret_key"
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        keys = pool.map(read_or_create_key, [path] * 24)
    assert set(keys) == {path.read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary left


def test_an_empty_key_file_is_a_clear_error_not_an_empty_key(tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="is empty"):
        read_or_create_key(tmp_path / "secret_key")
