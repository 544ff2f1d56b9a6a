"""A function's own Python code, run in a real subprocess as a worker runs it: its
return value, exception, timeout, log lines and context (lambda-sqs.md §4, §8), and
a batch whose handler reports its failures itself."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from broker import errors, lambdas, sqs
from broker.lambdas import runtime
from broker.models import Event, Invocation
from tests.factories import make_mapping, make_queue


def zipped(source: str, module: str = "index") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}.py", source)
    return buffer.getvalue()


def code_function(workspace, clock, source: str, *, name: str = "coded", **options):
    return lambdas.create_function(
        workspace,
        name,
        code=zipped(source),
        role="arn:aws:iam::000000000000:role/r",
        clock=clock,
        **options,
    )


def run_directly(function, payload: dict, *, clock) -> Invocation:
    """What the worker does for one Invoke: start it, run the code, finish it."""
    invocation = lambdas.invoke(
        function, json.dumps(payload).encode(), invocation_type="RequestResponse", clock=clock
    )
    lambdas.finish_invocation(invocation, clock=clock, outcome=runtime.run(invocation))
    invocation.refresh_from_db()
    return invocation


def log_of(invocation) -> list[str]:
    return list(
        Event.objects.filter(kind="function.logged", data__request_id=invocation.request_id)
        .order_by("id")
        .values_list("data__line", flat=True)
    )


def test_a_handler_returns_its_value_and_its_print_and_logging_are_the_log(workspace, clock):
    function = code_function(
        workspace,
        clock,
        "import logging\n"
        "logger = logging.getLogger()\n"
        "logger.setLevel(logging.INFO)\n"
        "def handler(event, context):\n"
        "    print('got', event['n'])\n"
        "    logger.info('working on %s', context.aws_request_id)\n"
        "    return {'doubled': event['n'] * 2, 'left_ms': context.get_remaining_time_in_millis()}\n",
        timeout=5,
    )
    invocation = run_directly(function, {"n": 21}, clock=clock)

    assert invocation.status == Invocation.Status.SUCCEEDED
    returned = json.loads(invocation.response)
    assert returned["doubled"] == 42
    assert 3_000 < returned["left_ms"] <= 5_000
    lines = log_of(invocation)
    assert lines[0] == f"START RequestId: {invocation.request_id} Version: $LATEST"
    assert lines[1] == "got 21"
    level, stamp, request_id, message = lines[2].split("\t")
    assert (level, request_id, message) == (
        "[INFO]",
        invocation.request_id,
        f"working on {invocation.request_id}",
    )
    assert stamp.endswith("Z")
    assert lines[3] == f"END RequestId: {invocation.request_id}"
    assert lines[4].startswith(f"REPORT RequestId: {invocation.request_id}\tDuration: ")


def test_a_handler_exception_fails_the_invocation_with_its_type_and_trace(workspace, clock):
    function = code_function(
        workspace,
        clock,
        "def handler(event, context):\n    raise ValueError('database is down')\n",
    )
    invocation = run_directly(function, {}, clock=clock)

    assert invocation.status == Invocation.Status.FAILED
    returned = json.loads(invocation.response)
    assert returned["errorType"] == "ValueError"
    assert returned["errorMessage"] == "database is down"
    assert any("raise ValueError" in line for line in returned["stackTrace"])
    assert "[ERROR] ValueError: database is down" in log_of(invocation)


def test_a_handler_running_past_its_timeout_is_ended(workspace, clock):
    function = code_function(
        workspace,
        clock,
        "import time\ndef handler(event, context):\n    print('begun')\n    time.sleep(30)\n",
        timeout=1,
    )
    started = time.monotonic()
    invocation = run_directly(function, {}, clock=clock)

    assert time.monotonic() - started < 10
    assert invocation.status == Invocation.Status.TIMED_OUT
    assert json.loads(invocation.response)["errorType"] == "Sandbox.Timedout"
    lines = log_of(invocation)
    assert lines[1] == "begun"
    assert lines[2].endswith(f"{invocation.request_id} Task timed out after 1.00 seconds")


@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        (
            "import sys\ndef handler(event, context):\n    sys.exit(3)\n",
            "index.handler",
            "Runtime.ExitError",
        ),
        (
            "def handler(event, context):\n    return 1\n",
            "missing.handler",
            "Runtime.ImportModuleError",
        ),
        (
            "def handler(event, context):\n    return 1\n",
            "index.nothing",
            "Runtime.HandlerNotFound",
        ),
        (
            "def handler(event, context):\n    return object()\n",
            "index.handler",
            "Runtime.MarshalError",
        ),
    ],
)
def test_a_runtime_error_is_reported_as_lambda_names_it(
    workspace, clock, source, handler, error_type
):
    function = code_function(workspace, clock, source, handler=handler)
    invocation = run_directly(function, {}, clock=clock)
    assert invocation.status == Invocation.Status.FAILED
    assert json.loads(invocation.response)["errorType"] == error_type


def test_the_handler_gets_its_workspace_credentials_and_this_endpoint(workspace, clock, settings):
    settings.PLAYGROUND_ENDPOINT_URL = "http://127.0.0.1:9"
    function = code_function(
        workspace,
        clock,
        "import os\ndef handler(event, context):\n"
        "    keys = ('AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY',\n"
        "            'AWS_REGION', 'AWS_LAMBDA_FUNCTION_NAME', 'TABLE')\n"
        "    return {k: os.environ.get(k) for k in keys}\n",
        environment={"TABLE": "orders"},
    )
    returned = json.loads(run_directly(function, {}, clock=clock).response)
    assert returned == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": workspace.access_key_id,
        "AWS_SECRET_ACCESS_KEY": workspace.secret_access_key,
        "AWS_REGION": workspace.region,
        "AWS_LAMBDA_FUNCTION_NAME": "coded",
        "TABLE": "orders",
    }


def test_a_deployment_that_runs_no_code_refuses_it_and_says_how_to_simulate(
    workspace, clock, settings
):
    settings.PLAYGROUND_RUN_CODE = False
    with pytest.raises(errors.InvalidParameterValueException) as raised:
        code_function(workspace, clock, "def handler(e, c):\n    return 1\n")
    assert "PLAYGROUND_RUN_CODE is off" in raised.value.message
    assert not workspace.functions.exists()
    simulated = code_function(
        workspace,
        clock,
        "def handler(e, c):\n    return 1\n",
        environment={"PLAYGROUND_DURATION": "0.5"},
    )
    assert not runtime.runs_code(simulated)


def test_a_worker_that_stops_mid_run_leaves_the_ticker_to_end_the_invocation(workspace, clock):
    function = code_function(workspace, clock, "def handler(e, c):\n    return 1\n", timeout=3)
    invocation = lambdas.invoke(function, b"{}", invocation_type="RequestResponse", clock=clock)
    assert invocation.ends_at == invocation.started_at + 3 + runtime.GRACE
    clock.advance(3 + runtime.GRACE)
    # The simulated deadline alone is not enough: the clock may have run fast.
    assert not lambdas.finish_invocation(invocation, clock=clock)
    invocation.config["wall_deadline"] = time.time() - 1  # the worker's deadline passed
    invocation.save(update_fields=["config"])
    assert lambdas.finish_invocation(invocation, clock=clock)
    invocation.refresh_from_db()
    assert invocation.status == Invocation.Status.FAILED
    assert json.loads(invocation.response)["errorType"] == "Runtime.ExitError"


# --- the seed's partial batch: 4 of 6 succeed ------------------------------------------

PARTIAL = (
    "def handler(event, context):\n"
    "    failed = [r['messageId'] for r in event['Records'] if 'poison' in r['body']]\n"
    "    return {'batchItemFailures': [{'itemIdentifier': i} for i in failed]}\n"
)


def test_reported_batch_item_failures_come_back_and_the_rest_is_deleted(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    function = code_function(workspace, clock, PARTIAL)
    make_mapping(
        queue,
        function,
        clock=clock,
        batch_size=6,
        function_response_types=["ReportBatchItemFailures"],
    )
    bodies = ["ok 1", "ok 2", "poison 3", "ok 4", "poison 5", "ok 6"]
    for body in bodies:
        sqs.send_message(queue, body=body, clock=clock)

    [invocation] = lambdas.poll(workspace.mappings.get(), clock=clock)
    assert invocation.config["runs_code"]
    assert len(invocation.event["Records"]) == 6
    lambdas.finish_invocation(invocation, clock=clock, outcome=runtime.run(invocation))

    peeked = sqs.peek_messages(queue, now=clock.now(), show_invisible=True)
    left = sorted(p.received.body for p in peeked)
    assert left == ["poison 3", "poison 5"]
    finished = Event.objects.get(kind="invocation.finished")
    assert len(finished.data["retried"]) == 2 and finished.data["deleted"] == 4


def test_a_deployment_that_stops_running_code_fails_the_runs_of_code_made_before(
    workspace, clock, settings
):
    function = code_function(workspace, clock, "def handler(e, c):\n    return 1\n")
    settings.PLAYGROUND_RUN_CODE = False
    invocation = run_directly(function, {}, clock=clock)
    assert invocation.status == Invocation.Status.FAILED
    assert json.loads(invocation.response)["errorType"] == "Runtime.Disabled"


def test_a_handler_that_forges_its_answer_file_gets_no_say(workspace, clock):
    function = code_function(
        workspace,
        clock,
        "import os, sys\n"
        "def handler(e, c):\n"
        "    open(os.environ['PLAYGROUND_RESULT_FILE'], 'w').write('{\"ok\": \"yes\"}')\n"
        "    os._exit(0)\n",
    )
    invocation = run_directly(function, {}, clock=clock)
    assert invocation.status == Invocation.Status.FAILED
    assert json.loads(invocation.response)["errorType"] == "Runtime.ExitError"


def test_a_timeout_ends_what_the_handler_started_too(workspace, clock, tmp_path):
    marker = tmp_path / "child-alive"
    child = f"import time; time.sleep(3); open({str(marker)!r}, 'w').write('x')"
    function = code_function(
        workspace,
        clock,
        "import subprocess, sys, time\n"
        "def handler(e, c):\n"
        f"    subprocess.Popen([sys.executable, '-c', {child!r}])\n"
        "    time.sleep(30)\n",
        timeout=1,
    )
    invocation = run_directly(function, {}, clock=clock)
    assert invocation.status == Invocation.Status.TIMED_OUT, invocation.response
    time.sleep(3.5)
    assert not marker.exists()
