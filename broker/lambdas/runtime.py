"""Running a function's own Python code: its zip unpacked once per CodeSha256, one
`bootstrap.py` process per invocation, ended at the function's timeout.

The process gets the event and a context on stdin, and an environment as Lambda's:
the function's variables, AWS_LAMBDA_FUNCTION_NAME and its kin, and the
workspace's own credentials with AWS_ENDPOINT_URL, so the handler's boto3 calls
come back to this playground. Its timeout is in wall seconds: code runs in real
time whatever the workspace clock's speed.

This runs code anyone who reaches the endpoint can upload, so it is on only with
PLAYGROUND_RUN_CODE (by default, while local credentials are: single-user mode).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")

# Wall seconds after its timeout an invocation's process gets to be ended and read.
GRACE = 30.0


@dataclass
class Outcome:
    """How a run ended: the status, what the handler returned (or its error), the
    lines it wrote, and what it used."""

    status: str
    returned: object = None
    error: str = ""
    lines: list[str] = field(default_factory=list)
    duration: float = 0.0  # seconds
    memory_used: int | None = None  # MB
    # The message ids of the records it finished, when known (simulated code): a
    # failed batch brings them back to be processed again.
    processed: tuple[str, ...] = ()


def enabled() -> bool:
    return bool(settings.PLAYGROUND_RUN_CODE)


def runs_code(function) -> bool:
    return wants_code(
        runtime=function.runtime, code=function.code, environment=function.environment
    )


def wants_code(*, runtime: str, code: bytes, environment: dict | None) -> bool:
    """Whether invoking a function runs its zip: a Python runtime, code, and no
    PLAYGROUND_* variable asking for a simulation."""
    from broker.lambdas.functions import SETTINGS_FROM_ENV

    return (
        bool(code)
        and runtime.startswith("python")
        and not any(key in (environment or {}) for key in SETTINGS_FROM_ENV)
    )


def _unpacked(function) -> Path:
    """The directory the function's zip is unpacked in (once per code digest)."""
    digest = hashlib.sha256(bytes(function.code)).hexdigest()
    root = Path(settings.PLAYGROUND_CODE_DIR)
    target = root / digest
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".unpack-"))
    with zipfile.ZipFile(io.BytesIO(bytes(function.code))) as archive:
        for member in archive.infolist():
            # No member may land outside the directory ("../x", "/etc/x").
            destination = (scratch / member.filename).resolve()
            if not destination.is_relative_to(scratch.resolve()):
                continue
            archive.extract(member, scratch)
    try:
        scratch.rename(target)
    except OSError:  # unpacked meanwhile by another worker
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _environment(function, invocation) -> dict:
    workspace = function.workspace
    region = workspace.region
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": tempfile.gettempdir(),
        **{k: str(v) for k, v in (function.environment or {}).items()},
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_ENDPOINT_URL": settings.PLAYGROUND_ENDPOINT_URL,
        "AWS_ACCESS_KEY_ID": workspace.access_key_id,
        "AWS_SECRET_ACCESS_KEY": workspace.secret_access_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "_HANDLER": function.handler,
    }


MAX_OUTPUT_LINES = 1_000  # of a run's output kept in the log stream
MAX_LINE = 2_000  # characters of one line


def run(invocation) -> Outcome:
    """Run one invocation's handler to its end or its timeout. Never raises: whatever
    goes wrong is the run's outcome."""
    from broker.models import Invocation

    if not enabled():  # switched off after the function was made
        message = "This playground does not run uploaded code (PLAYGROUND_RUN_CODE is off)."
        return Outcome(
            status=Invocation.Status.FAILED,
            returned={"errorType": "Runtime.Disabled", "errorMessage": message},
            error=f"Runtime.Disabled: {message}",
            lines=[f"[ERROR] {message}"],
        )
    try:
        return _run(invocation)
    except Exception as exc:  # a broken zip, a full disk: the run failed, not the worker
        message = f"RequestId: {invocation.request_id} Error: {type(exc).__name__}: {exc}"[:500]
        return Outcome(
            status=Invocation.Status.FAILED,
            returned={"errorType": "Runtime.ExitError", "errorMessage": message},
            error=f"Runtime.ExitError: {message}",
        )


def _lines(text: str) -> list[str]:
    lines = text.splitlines()
    kept = [line[:MAX_LINE] for line in lines[:MAX_OUTPUT_LINES]]
    if len(lines) > MAX_OUTPUT_LINES:
        kept.append(f"… {len(lines) - MAX_OUTPUT_LINES} more lines not kept")
    return kept


def _run(invocation) -> Outcome:
    from broker.models import Invocation

    function = invocation.function
    directory = _unpacked(function)
    timeout = invocation.config["timeout"]
    started = time.time()
    spec = {
        "event": invocation.event,
        "request_id": invocation.request_id,
        "function_name": function.name,
        "function_arn": function.arn,
        "memory_size": function.memory_size,
        "handler": function.handler,
        "deadline": started + timeout,
        "log_stream_name": time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime(started))
        + uuid.uuid4().hex,
    }
    with tempfile.TemporaryDirectory(prefix="lambda-run-") as scratch:
        result_file = Path(scratch) / "result.json"
        env = {**_environment(function, invocation), "PLAYGROUND_RESULT_FILE": str(result_file)}
        process = subprocess.Popen(
            [sys.executable, "-I", str(BOOTSTRAP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=directory,
            env=env,
            start_new_session=True,  # its own process group: a timeout ends its children too
        )
        try:
            stdout, stderr = process.communicate(json.dumps(spec), timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            output = _text(stdout) + _text(stderr)
            error = f"Task timed out after {timeout:.2f} seconds"
            return Outcome(
                status=Invocation.Status.TIMED_OUT,
                returned={
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {invocation.request_id} Error: {error}",
                },
                error=error,
                lines=[*_lines(output), _timeout_line(invocation, error)],
                duration=float(timeout),
            )
        with contextlib.suppress(ProcessLookupError):  # what it started in the background
            os.killpg(process.pid, signal.SIGKILL)
        duration = time.time() - started
        lines = _lines(stdout + stderr)
        try:
            answer = json.loads(result_file.read_text())
        except (OSError, ValueError):
            answer = None
    # The handler could write the file itself: anything but the runtime's answer is none.
    if not _well_formed(answer):
        answer = None
    if answer is None:  # the process died before it could answer (exit, a signal)
        code = process.returncode
        message = f"RequestId: {invocation.request_id} Error: Runtime exited with error: " + (
            f"exit status {code}" if code >= 0 else f"signal {-code}"
        )
        return Outcome(
            status=Invocation.Status.FAILED,
            returned={"errorType": "Runtime.ExitError", "errorMessage": message},
            error=f"Runtime.ExitError: {message}",
            lines=lines,
            duration=duration,
        )
    kb = answer.get("max_memory_kb")
    memory = max(1, kb // 1024) if isinstance(kb, int) else None
    if answer["ok"]:
        return Outcome(
            status=Invocation.Status.SUCCEEDED,
            returned=answer["result"],
            lines=lines,
            duration=duration,
            memory_used=memory,
        )
    returned = {k: answer.get(k) for k in ("errorMessage", "errorType", "stackTrace")}
    returned["requestId"] = invocation.request_id
    return Outcome(
        status=Invocation.Status.FAILED,
        returned=returned,
        error=f"{answer['errorType']}: {answer['errorMessage']}"[:2000],
        lines=lines,
        duration=duration,
        memory_used=memory,
    )


def _well_formed(answer) -> bool:
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        return False
    return answer["ok"] or all(
        isinstance(answer.get(k), str) for k in ("errorType", "errorMessage")
    )


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _timeout_line(invocation, error: str) -> str:
    from broker.lambdas.invocations import iso

    return f"{iso(time.time())} {invocation.request_id} {error}"
