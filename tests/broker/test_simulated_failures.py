"""The simulated function's other rules: a duration range, failing on a message
attribute, failing at random, and a failure that crashes the process; each draw is
fixed by the request id, so a run can be replayed."""

from __future__ import annotations

import pytest

from broker import errors, lambdas, sqs
from broker.lambdas import invocations
from broker.models import Invocation, Message
from tests.broker.test_lambdas import run_for
from tests.factories import make_function, make_mapping, make_queue


def invoke(function, clock, n: int = 1) -> list[Invocation]:
    return [lambdas.invoke(function, b"{}", invocation_type="Event", clock=clock) for _ in range(n)]


def test_each_run_lasts_a_duration_within_its_range(workspace, clock):
    function = make_function(workspace, clock=clock, duration=1, duration_max=3, timeout=5)
    runs = invoke(function, clock, 40)
    lengths = [r.ends_at - r.started_at for r in runs]
    assert all(1 <= n <= 3 for n in lengths)
    assert max(lengths) - min(lengths) > 1  # spread over the range, not one value
    first = runs[0]
    assert first.config["duration"] == pytest.approx(
        1 + 2 * invocations._draw(first.request_id, "duration")
    )


def test_a_record_with_the_named_attribute_fails_its_batch(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=10)
    function = make_function(
        workspace, clock=clock, duration=1, timeout=3, fail_when_attribute="kind=poison"
    )
    make_mapping(queue, function, clock=clock, batch_size=1)
    sqs.send_message(
        queue,
        body="order 1",
        attributes={"kind": {"DataType": "String", "StringValue": "poison"}},
        clock=clock,
    )
    sqs.send_message(
        queue,
        body="order 2",
        attributes={"kind": {"DataType": "String", "StringValue": "order"}},
        clock=clock,
    )
    run_for(workspace, clock, 3)
    statuses = sorted(Invocation.objects.values_list("status", flat=True))
    assert statuses == ["failed", "succeeded"]
    assert Message.objects.filter(queue=queue).count() == 1


@pytest.mark.parametrize(("percent", "low", "high"), [(0, 0, 0), (30, 35, 85), (100, 200, 200)])
def test_a_run_fails_at_random_its_percentage_of_the_time(workspace, clock, percent, low, high):
    function = make_function(workspace, clock=clock, duration=0, timeout=3, fail_percent=percent)
    invoke(function, clock, 200)
    run_for(workspace, clock, 1)
    failed = Invocation.objects.filter(status=Invocation.Status.FAILED)
    assert low <= failed.count() <= high
    if percent:
        assert failed.first().error == (
            f"Exception: the run failed at random (fails {percent} % of runs)"
        )


def test_a_crash_fails_the_whole_batch_even_when_it_reports_failures(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=10)
    function = make_function(
        workspace,
        clock=clock,
        duration=1,
        timeout=3,
        fail_when_body_contains="poison",
        report_failed_records=True,
        failure="crash",
    )
    make_mapping(
        queue,
        function,
        clock=clock,
        batch_size=3,
        function_response_types=["ReportBatchItemFailures"],
    )
    sqs.send_message_batch(
        queue,
        [{"Id": str(i), "MessageBody": b} for i, b in enumerate(["a", "poison", "c"])],
        clock=clock,
    )
    run_for(workspace, clock, 2)
    [run] = Invocation.objects.all()
    assert run.status == Invocation.Status.FAILED
    assert run.error.startswith("Runtime.ExitError: ")
    assert run.error.endswith("Runtime exited with error: signal: killed")
    assert Message.objects.filter(queue=queue).count() == 3  # nothing deleted


def test_the_rules_come_from_environment_variables_too(workspace, clock):
    function = make_function(
        workspace,
        clock=clock,
        environment={
            "PLAYGROUND_DURATION": "0.5",
            "PLAYGROUND_DURATION_MAX": "2",
            "PLAYGROUND_FAIL_PERCENT": "25",
            "PLAYGROUND_FAIL_WHEN_ATTRIBUTE": "kind=poison",
            "PLAYGROUND_FAILURE": "crash",
        },
    )
    assert (function.duration_max, function.fail_percent, function.failure) == (2.0, 25, "crash")
    assert function.fail_when_attribute == "kind=poison"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"duration": 2, "duration_max": 1}, "duration_max"),
        ({"duration_max": float("inf")}, "duration_max"),
        ({"fail_percent": 101}, "fail_percent"),
        ({"failure": "explode"}, "failure"),
        ({"fail_when_attribute": "no equals sign"}, "fail_when_attribute"),
        ({"environment": {"PLAYGROUND_FAIL_PERCENT": "lots"}}, "environment"),
        ({"environment": {"PLAYGROUND_FAILURE": "explode"}}, "failure"),
    ],
)
def test_nonsense_rules_are_refused(workspace, clock, settings, field):
    with pytest.raises(errors.InvalidParameterValueException) as raised:
        make_function(workspace, clock=clock, **settings)
    assert raised.value.field == field
    assert not workspace.functions.exists()


def test_a_cleared_range_goes_back_to_a_fixed_duration(workspace, clock):
    function = make_function(workspace, clock=clock, duration=1, duration_max=3)
    lambdas.update_function(function, duration_max="", clock=clock)
    function.refresh_from_db()
    assert function.duration_max is None
    lambdas.update_function(function, timeout=5, clock=clock)
    function.refresh_from_db()
    assert function.duration_max is None
