from __future__ import annotations

import gzip
import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import boto3
import botocore.session
import pytest
from botocore.config import Config

OLD_BOTOCORE = "1.34.89"  # the last botocore whose SQS model speaks query (protocols.md §1)
MODEL_PATH = "botocore/data/sqs/2012-11-05/service-2.json"


# One attempt, never a retry: a retried call would hide the error that caused it, and
# a retried send is a second message. (`max_attempts` counts retries: 1 allows one.)
NO_RETRIES = {"total_max_attempts": 1}


def make_client(
    url: str,
    *,
    key: str = "test",
    secret: str = "test",
    data_path=None,
    region: str = "us-east-1",
    **config,
):
    session = botocore.session.get_session()
    if data_path is not None:
        session.set_config_variable("data_path", str(data_path))
    return boto3.Session(botocore_session=session).client(
        "sqs",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries=NO_RETRIES, read_timeout=30, **config),
    )


@pytest.fixture(scope="session")
def sqs(live_server_url):
    return make_client(live_server_url)


def service_client(
    service: str, url: str, *, key: str = "test", secret: str = "test", region: str = "us-east-1"
):
    """A boto3 client of `service` on the live server, local credentials unless told,
    no retries."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries=NO_RETRIES),
    )


@pytest.fixture(scope="module")
def kms(live_server_url):
    return service_client("kms", live_server_url)


@pytest.fixture
def queue_url(sqs):
    return sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}")["QueueUrl"]


@pytest.fixture(scope="session")
def query_model_dir(tmp_path_factory) -> Path:
    """A data path holding botocore 1.34.89's SQS model, so clients speak the query protocol.

    The wheel is fetched once with pip into ~/.cache and reused by later runs.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "playground-tests"
    wheels = cache / f"botocore-{OLD_BOTOCORE}"
    wheel = next(wheels.glob("botocore-*.whl"), None) if wheels.exists() else None
    if wheel is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"botocore=={OLD_BOTOCORE}",
                "--no-deps",
                "-q",
                "-d",
                str(wheels),
            ],
            check=True,
        )
        wheel = next(wheels.glob("botocore-*.whl"))
    target = tmp_path_factory.mktemp("query-model")
    model = target / "sqs" / "2012-11-05" / "service-2.json"
    model.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        if MODEL_PATH in names:
            model.write_bytes(archive.read(MODEL_PATH))
        else:
            model.write_bytes(gzip.decompress(archive.read(MODEL_PATH + ".gz")))
    return target


@pytest.fixture(scope="session")
def query_sqs(live_server_url, query_model_dir):
    """A boto3 client on botocore 1.34.89's model: it speaks the query protocol."""
    client = make_client(live_server_url, data_path=query_model_dir)
    assert client.meta.service_model.protocol == "query"
    return client


AWS = str(Path(sys.executable).with_name("aws"))


@pytest.fixture(scope="module")
def aws(live_server_url, query_model_dir):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_DATA_PATH": str(query_model_dir),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }

    def run(
        *args,
        debug: bool = False,
        credentials: tuple[str, str] | None = None,
        service: str = "sqs",
    ):
        command = [AWS, "--endpoint-url", live_server_url, "--output", "json", service, *args]
        if debug:
            command.append("--debug")
        keys = {}
        if credentials:
            keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"] = credentials
        return subprocess.run(
            command, env={**env, **keys}, capture_output=True, text=True, timeout=60
        )

    return run


@dataclass(frozen=True)
class LearnerWorkspace:
    """A visitor's own workspace on the live server, and the browser session that owns it."""

    url: str
    access_key: str
    secret: str
    browser: urllib.request.OpenerDirector
    csrf_token: str
    account_id: str

    def post(self, path: str, **fields) -> int:
        """Submit one of the workspace page's forms, as htmx does; the HTTP status."""
        request = urllib.request.Request(
            self.url + path,
            data=urlencode(fields).encode(),
            headers={"X-CSRFToken": self.csrf_token},
        )
        with self.browser.open(request) as response:
            return response.status


def create_workspace_in(browser, live_server_url: str) -> str:
    """Press the home page's "Create your workspace" in a cookie-keeping urllib opener;
    the path of the workspace it opens."""
    with browser.open(live_server_url + "/") as response:
        home = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home).group(1)
    request = urllib.request.Request(
        live_server_url + "/w/", data=urlencode({"csrfmiddlewaretoken": token}).encode()
    )
    with browser.open(request) as response:
        return urlsplit(response.url).path


def open_learner_workspace(live_server_url: str) -> LearnerWorkspace:
    """A new visitor's workspace, made from the home page, with the keys its page shows."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    path = create_workspace_in(browser, live_server_url)
    with browser.open(live_server_url + path) as response:
        page = response.read().decode()
    access_key, secret, account_id = (
        re.search(f'id="cred-{name}">([^<]+)<', page).group(1)
        for name in ("access-key", "secret", "account")
    )
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    return LearnerWorkspace(live_server_url + path, access_key, secret, browser, csrf, account_id)


@pytest.fixture
def learner_workspace(live_server_url) -> LearnerWorkspace:
    return open_learner_workspace(live_server_url)


@dataclass(frozen=True)
class Account:
    """A learner's workspace and boto3 clients signed with its own keys."""

    page: LearnerWorkspace
    sqs: object
    sns: object
    lam: object
    kms: object

    @property
    def account_id(self) -> str:
        return self.page.account_id

    @property
    def key(self) -> str:
        return self.page.access_key

    @property
    def secret(self) -> str:
        return self.page.secret


def open_account(live_server_url: str) -> Account:
    """A new learner's workspace and a client of each service with its own keys."""
    learner = open_learner_workspace(live_server_url)

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=live_server_url,
            region_name="us-east-1",
            aws_access_key_id=learner.access_key,
            aws_secret_access_key=learner.secret,
            config=Config(retries=NO_RETRIES, read_timeout=30),
        )

    return Account(learner, client("sqs"), client("sns"), client("lambda"), client("kms"))
