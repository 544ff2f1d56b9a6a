"""No client sees a traceback or the server's settings: the live stack runs with
`make run`'s defaults (DEBUG off), and AWS markers on a browser URL change nothing."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.request

import pytest

from tests.broker.api.conftest import create_workspace_in


def fetch(url: str, *, opener=None, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def someone_elses_workspace(live_server_url) -> str:
    owner = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    return create_workspace_in(owner, live_server_url)


def assert_our_not_found_page(status: int, body: str) -> None:
    assert status == 404
    assert "Nothing here" in body
    for leak in ("Traceback", "DEBUG", "SECRET_KEY", "settings", "urlconf"):
        assert leak not in body


def test_a_missing_workspace_is_our_not_found_page(live_server_url):
    assert_our_not_found_page(*fetch(f"{live_server_url}/w/nope/"))


def test_a_missing_static_file_is_our_not_found_page(live_server_url):
    assert_our_not_found_page(*fetch(f"{live_server_url}/static/nope.js"))


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?Action=ListQueues", {}),
        ("?Action=x", {}),
        ("", {"X-Amz-Target": "AmazonSQS.ListQueues"}),
        (
            "",
            {"X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"},
        ),
    ],
)
def test_aws_markers_on_a_workspace_url_do_not_open_it_or_fail(
    live_server_url, someone_elses_workspace, query, headers
):
    url = f"{live_server_url}{someone_elses_workspace}{query}"
    assert_our_not_found_page(*fetch(url, headers=headers))
