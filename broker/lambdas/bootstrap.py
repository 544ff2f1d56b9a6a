"""The Python runtime a function's own code runs in: one process per invocation.

`broker/lambdas/runtime.py` starts it as a script (never as part of the `broker`
package: nothing of Django is loaded here) in the function's unpacked zip, with the
event and the context on stdin and the answer written to the file named by
PLAYGROUND_RESULT_FILE. What the handler prints, and what it logs through `logging`
in the Lambda runtime's format, is the invocation's log.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback


class Context:
    """The handler's `context`, with the attributes of AWS's Python runtime."""

    def __init__(self, spec: dict):
        self.aws_request_id = spec["request_id"]
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["function_arn"]
        self.memory_limit_in_mb = str(spec["memory_size"])
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = spec["log_stream_name"]
        self._deadline = spec["deadline"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class _RequestIdFilter(logging.Filter):
    def __init__(self, request_id: str):
        super().__init__()
        self.request_id = request_id

    def filter(self, record):
        record.aws_request_id = self.request_id
        return True


def _logging(request_id: str) -> None:
    """Lambda's Python log format: `[LEVEL]\\t<ISO time>\\t<request id>\\t<message>`."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime
    handler.addFilter(_RequestIdFilter(request_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # the runtime's default: logger.info needs setLevel


def _answer(document: dict) -> None:
    document["max_memory_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(os.environ["PLAYGROUND_RESULT_FILE"], "w") as out:
        json.dump(document, out)


def _error(kind: str, message: str, trace: list[str]) -> dict:
    return {"ok": False, "errorType": kind, "errorMessage": message, "stackTrace": trace}


def main() -> None:
    # A line reaches the log as soon as it is written, even if the run is ended then.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    spec = json.loads(sys.stdin.read())
    _logging(spec["request_id"])
    sys.path.insert(0, os.getcwd())
    module_name, _, function_name = spec["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
        handler = getattr(module, function_name)
    except Exception as exc:  # what AWS reports as Runtime.ImportModuleError
        kind = (
            "Runtime.ImportModuleError"
            if isinstance(exc, ImportError)
            else "Runtime.HandlerNotFound"
        )
        message = f"Unable to import module '{module_name}': {exc}"
        if isinstance(exc, AttributeError):
            message = f"Handler '{function_name}' missing on module '{module_name}'"
        print(f"[ERROR] {kind}: {message}", flush=True)
        _answer(_error(kind, message, []))
        return
    try:
        result = handler(spec["event"], Context(spec))
    except Exception as exc:
        # Paths as Lambda shows them: the code lives in /var/task there.
        trace = [
            line.replace(os.getcwd(), "/var/task")
            for line in traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
        ]
        kind, message = type(exc).__name__, str(exc)
        print(f"[ERROR] {kind}: {message}\nTraceback (most recent call last):", flush=True)
        for line in trace:
            print(line.rstrip("\n"), flush=True)
        _answer(_error(kind, message, [line.rstrip("\n") for line in trace]))
        return
    sys.stdout.flush()
    try:
        _answer({"ok": True, "result": result})
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        print(f"[ERROR] Runtime.MarshalError: {message}", flush=True)
        _answer(_error("Runtime.MarshalError", message, []))


if __name__ == "__main__":
    main()
