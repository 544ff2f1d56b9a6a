from __future__ import annotations

import json
import time

import pytest

from broker import errors, kms, lambdas, sqs
from broker.lambdas import roles
from broker.models import Event, Invocation, Message
from tests.factories import make_function, make_mapping, make_poison_consumer, make_queue


def run_lambda_service(workspace, clock) -> None:
    """What the ticker and the Celery tasks do on one pass, called directly."""
    wall_now = time.time()
    for pk in lambdas.claim_due_finishes(workspace, clock=clock, wall_now=wall_now):
        lambdas.finish_invocation(Invocation.objects.get(pk=pk), clock=clock)
    for pk in lambdas.claim_due_polls(workspace, clock=clock, wall_now=wall_now):
        lambdas.poll(workspace.mappings.get(pk=pk), clock=clock)


def run_for(workspace, clock, seconds: int) -> None:
    """Let `seconds` simulated seconds pass, one second per ticker pass."""
    run_lambda_service(workspace, clock)
    for _ in range(seconds):
        clock.advance(1)
        run_lambda_service(workspace, clock)


def log_lines(function) -> list[str]:
    return list(
        Event.objects.filter(kind="function.logged", subject=f"function:{function.name}")
        .order_by("id")
        .values_list("data__line", flat=True)
    )


def timeline(message_id: str) -> list[str]:
    return list(
        Event.objects.filter(message_id=message_id).order_by("id").values_list("kind", flat=True)
    )


def with_redrive(workspace, clock, *, max_receive_count: int, **attributes):
    dlq = make_queue(workspace, "MyTaskQueue-dlq", clock=clock)
    policy = f'{{"deadLetterTargetArn":"{dlq.arn}","maxReceiveCount":{max_receive_count}}}'
    return make_queue(workspace, clock=clock, RedrivePolicy=policy, **attributes), dlq


# --- the seed lesson: visibility timeout shorter than the function ---------------------


def test_a_trigger_whose_queue_hides_messages_for_less_than_the_function_timeout_is_refused(
    workspace, clock
):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    function = make_function(workspace, clock=clock, duration=40, timeout=60)
    with pytest.raises(errors.InvalidParameterValueException) as raised:
        make_mapping(queue, function, clock=clock)
    assert raised.value.message == (
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    )
    assert raised.value.field == "queue"
    assert not workspace.mappings.exists()


def test_message_is_processed_twice_when_visibility_timeout_is_shorter_than_the_function(
    workspace, clock
):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=60)
    function = make_function(workspace, clock=clock, duration=40, timeout=60)
    make_mapping(queue, function, clock=clock, batch_size=10)
    # AWS checks the visibility timeout when the trigger is made, not afterwards.
    sqs.set_queue_attributes(queue, {"VisibilityTimeout": "30"}, clock=clock)
    sent = sqs.send_message(queue, body="hello", clock=clock)
    t0 = clock.now()

    run_lambda_service(workspace, clock)
    [first] = Invocation.objects.all()
    assert first.started_at == t0
    assert first.ends_at == t0 + 40
    assert first.event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"

    run_for(workspace, clock, 29)
    assert Invocation.objects.count() == 1
    run_for(workspace, clock, 1)  # t=30: visible again while the function still runs
    second = Invocation.objects.exclude(pk=first.pk).get()
    assert second.started_at == t0 + 30
    assert second.event["Records"][0]["messageId"] == sent.message_id
    assert second.event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"

    run_for(workspace, clock, 10)  # t=40: the first finishes, deleting with a stale handle
    first.refresh_from_db()
    assert first.status == Invocation.Status.SUCCEEDED
    deleted = Event.objects.get(kind="message.deleted", message_id=sent.message_id)
    assert deleted.data["by"] == "lambda:ConsumerFunction"
    assert deleted.data["stale_handle"] is True
    assert Message.objects.count() == 0

    run_for(workspace, clock, 30)  # t=70: the second finishes too
    second.refresh_from_db()
    assert second.status == Invocation.Status.SUCCEEDED
    assert log_lines(function).count("Processing message: hello") == 2
    assert timeline(sent.message_id) == [
        "message.sent",
        "message.received",
        "message.visible",
        "message.received",
        "message.deleted",
    ]
    receivers = Event.objects.filter(kind="message.received").values_list(
        "data__receiver", flat=True
    )
    assert list(receivers) == ["lambda:ConsumerFunction"] * 2


def test_message_is_processed_once_when_visibility_timeout_covers_the_function(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=60)
    function = make_function(workspace, clock=clock, duration=40, timeout=60)
    make_mapping(queue, function, clock=clock, batch_size=10)
    sent = sqs.send_message(queue, body="hello", clock=clock)

    run_for(workspace, clock, 120)

    [invocation] = Invocation.objects.all()
    assert invocation.status == Invocation.Status.SUCCEEDED
    assert log_lines(function).count("Processing message: hello") == 1
    assert timeline(sent.message_id) == ["message.sent", "message.received", "message.deleted"]
    assert Message.objects.count() == 0


# --- success and failure -------------------------------------------------------------------


def test_successful_invocation_deletes_the_whole_batch(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=2)
    make_mapping(queue, function, clock=clock)
    for n in range(3):
        sqs.send_message(queue, body=f"order {n}", clock=clock)

    run_lambda_service(workspace, clock)
    [invocation] = Invocation.objects.all()
    assert len(invocation.event["Records"]) == 3
    assert Message.objects.count() == 3  # in flight while the function runs

    run_for(workspace, clock, 2)
    invocation.refresh_from_db()
    assert invocation.status == Invocation.Status.SUCCEEDED
    assert invocation.finished_at == invocation.ends_at
    assert Message.objects.count() == 0
    finished = Event.objects.get(kind="invocation.finished")
    assert finished.data["status"] == "succeeded"
    assert finished.data["deleted"] == 3
    assert sorted(finished.data["message_ids"]) == sorted(invocation.message_ids)


def test_failing_batch_reappears_and_lands_in_the_dead_letter_queue(workspace, clock):
    queue, dlq = with_redrive(workspace, clock, max_receive_count=3, VisibilityTimeout=10)
    function = make_function(workspace, clock=clock, duration=1, fail_when_body_contains="boom")
    make_mapping(queue, function, clock=clock)
    sent = sqs.send_message(queue, body="boom!", clock=clock)

    run_for(workspace, clock, 5)
    [invocation] = Invocation.objects.all()
    assert invocation.status == Invocation.Status.FAILED
    assert invocation.error == 'Exception: body contains "boom"'
    assert Message.objects.get().queue == queue  # nothing deleted, still in flight

    run_for(workspace, clock, 60)
    statuses = list(Invocation.objects.order_by("started_at").values_list("status", flat=True))
    assert statuses == ["failed"] * 3
    assert Message.objects.get().queue == dlq
    assert "message.moved_to_dlq" in timeline(sent.message_id)
    assert '[ERROR] Exception: body contains "boom"' in log_lines(function)
    assert sqs.counts(queue, now=clock.now()).total == 0


def test_one_failing_record_fails_the_whole_batch(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    function = make_function(workspace, clock=clock, fail_when_body_contains="bad")
    make_mapping(queue, function, clock=clock)
    sqs.send_message(queue, body="good", clock=clock)
    sqs.send_message(queue, body="bad", clock=clock)

    run_for(workspace, clock, 2)

    [invocation] = Invocation.objects.all()
    assert invocation.status == Invocation.Status.FAILED
    assert Message.objects.count() == 2


def test_timeout_counts_as_failure_and_logs_task_timed_out(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    function = make_function(workspace, clock=clock, duration=10, timeout=3)
    make_mapping(queue, function, clock=clock)
    sqs.send_message(queue, body="slow", clock=clock)

    run_lambda_service(workspace, clock)
    [invocation] = Invocation.objects.all()
    assert invocation.ends_at - invocation.started_at == 3  # cut at the timeout

    run_for(workspace, clock, 3)
    invocation.refresh_from_db()
    assert invocation.status == Invocation.Status.TIMED_OUT
    assert Message.objects.count() == 1
    lines = log_lines(function)
    timed_out = next(line for line in lines if "Task timed out" in line)
    stamp, request_id, rest = timed_out.split(" ", 2)
    assert stamp.endswith("Z") and "T" in stamp
    assert request_id == invocation.request_id
    assert rest == "Task timed out after 3.00 seconds"
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: 3000.00 ms\t")


# --- polling -------------------------------------------------------------------------------


def test_batch_size_is_respected(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=5)
    make_mapping(queue, function, clock=clock, batch_size=3)
    for n in range(7):
        sqs.send_message(queue, body=f"m{n}", clock=clock)

    run_lambda_service(workspace, clock)

    sizes = sorted(len(i.event["Records"]) for i in Invocation.objects.all())
    assert sizes == [1, 3, 3]


def test_disabled_mapping_does_not_poll(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock)
    mapping = make_mapping(queue, function, clock=clock, enabled=False)
    sqs.send_message(queue, body="waiting", clock=clock)

    run_for(workspace, clock, 5)
    assert lambdas.poll(mapping, clock=clock) == []
    assert Invocation.objects.count() == 0
    assert sqs.counts(queue, now=clock.now()).visible == 1

    lambdas.update_event_source_mapping(mapping, enabled=True, clock=clock)
    run_for(workspace, clock, 2)
    assert Invocation.objects.get().status == Invocation.Status.SUCCEEDED
    assert Message.objects.count() == 0


def test_maximum_concurrency_caps_running_invocations(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=60)
    function = make_function(workspace, clock=clock, duration=10, timeout=30)
    make_mapping(queue, function, clock=clock, batch_size=1, maximum_concurrency=2)
    for n in range(5):
        sqs.send_message(queue, body=f"m{n}", clock=clock)

    run_lambda_service(workspace, clock)
    assert Invocation.objects.filter(status="running").count() == 2
    assert sqs.counts(queue, now=clock.now()).visible == 3  # left in the queue, not received

    run_for(workspace, clock, 9)
    assert Invocation.objects.count() == 2
    run_for(workspace, clock, 1)  # two finish, two more start
    assert Invocation.objects.filter(status="succeeded").count() == 2
    assert Invocation.objects.filter(status="running").count() == 2

    run_for(workspace, clock, 20)
    assert Invocation.objects.filter(status="succeeded").count() == 5
    assert Message.objects.count() == 0


def test_ticker_claims_a_poll_and_a_finish_only_once(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=1)
    mapping = make_mapping(queue, function, clock=clock)
    sqs.send_message(queue, body="once", clock=clock)
    wall = time.time()

    assert lambdas.claim_due_polls(workspace, clock=clock, wall_now=wall) == [mapping.pk]
    assert lambdas.claim_due_polls(workspace, clock=clock, wall_now=wall) == []
    [invocation] = lambdas.poll(mapping, clock=clock)
    clock.advance(1)
    assert lambdas.claim_due_finishes(workspace, clock=clock, wall_now=wall) == [invocation.pk]
    assert lambdas.claim_due_finishes(workspace, clock=clock, wall_now=wall) == []
    # A claim whose task never ran is taken again once it is stale.
    later = wall + lambdas.REQUEST_STALE_AFTER + 1
    assert lambdas.claim_due_finishes(workspace, clock=clock, wall_now=later) == [invocation.pk]


def test_finishing_twice_or_early_does_nothing(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=5)
    mapping = make_mapping(queue, function, clock=clock)
    sqs.send_message(queue, body="x", clock=clock)
    [invocation] = lambdas.poll(mapping, clock=clock)

    assert lambdas.finish_invocation(invocation, clock=clock) is False
    assert Invocation.objects.get().status == Invocation.Status.RUNNING
    clock.advance(5)
    assert lambdas.finish_invocation(invocation, clock=clock) is True
    assert lambdas.finish_invocation(Invocation.objects.get(), clock=clock) is False
    assert Event.objects.filter(kind="invocation.finished").count() == 1
    assert log_lines(function).count(f"END RequestId: {invocation.request_id}") == 1


def test_running_invocation_keeps_the_configuration_it_started_with(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=5, timeout=10)
    mapping = make_mapping(queue, function, clock=clock)
    sqs.send_message(queue, body="fine", clock=clock)
    [invocation] = lambdas.poll(mapping, clock=clock)

    lambdas.update_function(function, fail_when_body_contains="fine", clock=clock)
    clock.advance(5)
    lambdas.finish_invocation(invocation, clock=clock)

    assert Invocation.objects.get().status == Invocation.Status.SUCCEEDED


# --- the event and the logs ------------------------------------------------------------


def test_event_is_the_sqs_event_lambda_sends(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock)
    mapping = make_mapping(queue, function, clock=clock)
    plain = sqs.send_message(queue, body='{"order": 1}', clock=clock)
    attributed = sqs.send_message(
        queue,
        body="with attributes",
        clock=clock,
        attributes={
            "Author": {"DataType": "String", "StringValue": "John Grisham"},
            "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )

    [invocation] = lambdas.poll(mapping, clock=clock)

    first, second = invocation.event["Records"]
    assert set(first) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert first["messageId"] == plain.message_id
    assert first["body"] == '{"order": 1}'  # a JSON body stays a string
    assert first["md5OfBody"] == plain.md5_of_body
    assert first["messageAttributes"] == {}
    assert first["md5OfMessageAttributes"] is None
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == queue.arn
    assert first["awsRegion"] == workspace.region
    assert list(first["attributes"]) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ]
    assert first["attributes"]["SentTimestamp"] == str(int(clock.now() * 1000))
    assert second["messageAttributes"] == {
        "Author": {
            "stringValue": "John Grisham",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "Blob": {
            "binaryValue": "AAE=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert second["md5OfMessageAttributes"] == attributed.md5_of_attributes
    # The receipt handle works like any consumer's.
    sqs.delete_message(queue, second["receiptHandle"], clock=clock)
    assert Message.objects.count() == 1


def test_log_lines_follow_the_cloudwatch_format(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=60)
    function = make_function(
        workspace,
        clock=clock,
        duration=40,
        timeout=60,
        memory_size=256,
        log_template="Processing message: {body} ({message_id})",
    )
    make_mapping(queue, function, clock=clock)
    sent = sqs.send_message(queue, body="hello", clock=clock)

    run_for(workspace, clock, 40)

    invocation = Invocation.objects.get()
    rid = invocation.request_id
    lines = log_lines(function)
    assert lines[:2] == [
        f"START RequestId: {rid} Version: $LATEST",
        f"Processing message: hello ({sent.message_id})",
    ]
    assert lines[2] == f"END RequestId: {rid}"
    report = lines[3].split("\t")
    assert report[:4] == [
        f"REPORT RequestId: {rid}",
        "Duration: 40000.00 ms",
        "Billed Duration: 40000 ms",
        "Memory Size: 256 MB",
    ]
    assert report[4].startswith("Max Memory Used: ") and report[4].endswith(" MB")
    assert len(lines) == 4
    logs = Event.objects.filter(kind="function.logged").order_by("id")
    assert {e.data["request_id"] for e in logs} == {rid}
    assert [e.at for e in logs] == [invocation.started_at] * 2 + [invocation.ends_at] * 2
    started = Event.objects.get(kind="invocation.started")
    assert started.subject == f"function:{function.name}"
    assert started.data == {
        "request_id": rid,
        "status": "running",
        "message_ids": [sent.message_id],
        "duration": 40,
        "ends_at": invocation.ends_at,
        "queue": queue.name,
        "mapping": str(invocation.mapping.uuid),
        "again": 0,  # records handed over before
        "redone": 0,  # of those, records it had processed before
    }


def test_billed_duration_rounds_up_to_the_millisecond():
    line = lambdas.report_line("r", duration=0.0151234, memory_size=128, records=1)
    assert "\tDuration: 15.12 ms\tBilled Duration: 16 ms\t" in line


# --- configuration errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 901}, "timeout"),
        ({"memory_size": 127}, "memory_size"),
        ({"memory_size": 10_241}, "memory_size"),
        ({"duration": -1}, "duration"),
        ({"duration": float("inf")}, "duration"),
    ],
)
def test_invalid_function_configuration_names_the_field(workspace, clock, options, field):
    options = {"name": "fn", **options}
    with pytest.raises(
        (errors.ValidationException, errors.InvalidParameterValueException)
    ) as raised:
        lambdas.create_function(workspace, options.pop("name"), clock=clock, **options)
    assert raised.value.field == field


def test_function_name_is_unique_in_a_workspace(workspace, clock):
    make_function(workspace, "fn", clock=clock)
    with pytest.raises(errors.ResourceConflictException) as raised:
        make_function(workspace, "fn", clock=clock)
    assert raised.value.field == "name"
    assert raised.value.message == "Function already exist: fn"
    assert raised.value.status == 409


def test_creating_a_function_records_an_event(workspace, clock):
    function = make_function(workspace, clock=clock, duration=40, timeout=60)
    event = Event.objects.get(kind="function.created")
    assert event.subject == f"function:{function.name}"
    assert event.data["timeout"] == 60


def test_second_mapping_of_the_same_pair_is_a_conflict(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, "f", clock=clock)
    mapping = make_mapping(queue, function, clock=clock)
    with pytest.raises(errors.ResourceConflictException) as raised:
        make_mapping(queue, function, clock=clock)
    assert raised.value.message == (
        f'An event source mapping with SQS arn (" {queue.arn} ") and function (" f ") already '
        f"exists. Please update or delete the existing mapping with UUID {mapping.uuid}"
    )


@pytest.mark.parametrize(
    ("queue_name", "options", "field", "message"),
    [
        ("q", {"batch_size": 0}, "batch_size", "Member must have value between 1 and 10000"),
        ("q", {"batch_size": 10_001}, "batch_size", "Member must have value between 1 and 10000"),
        (
            "q",
            {"batch_size": 11},
            "batching_window",
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
            "greater than 10",
        ),
        ("q", {"batching_window": 301}, "batching_window", "between 0 and 300"),
        ("q", {"maximum_concurrency": 1}, "maximum_concurrency", "between 2 and 1000"),
        ("q", {"function_response_types": ["Everything"]}, "function_response_types", "enum"),
        (
            "q",
            {"filter_criteria": {"Filters": [{"Pattern": "not json"}]}},
            "filter_criteria",
            "Invalid filter pattern definition.",
        ),
        ("q.fifo", {"batch_size": 11, "batching_window": 1}, "batch_size", "FIFO"),
        ("q.fifo", {"batching_window": 1}, "batching_window", "not supported for FIFO"),
    ],
)
def test_a_trigger_setting_aws_refuses_is_refused_next_to_its_field(
    workspace, clock, queue_name, options, field, message
):
    fifo = {"FifoQueue": "true"} if queue_name.endswith(".fifo") else {}
    queue = make_queue(workspace, queue_name, clock=clock, **fifo)
    function = make_function(workspace, clock=clock)
    with pytest.raises(
        (errors.ValidationException, errors.InvalidParameterValueException)
    ) as raised:
        make_mapping(queue, function, clock=clock, **options)
    assert raised.value.field == field
    assert message in raised.value.message
    assert not workspace.mappings.exists()


def test_deleting_a_mapping_stops_polling_but_lets_the_batch_finish(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=3)
    mapping = make_mapping(queue, function, clock=clock)
    sqs.send_message(queue, body="a", clock=clock)
    run_lambda_service(workspace, clock)

    lambdas.delete_event_source_mapping(mapping, clock=clock)
    sqs.send_message(queue, body="b", clock=clock)
    run_for(workspace, clock, 5)

    assert Invocation.objects.get().status == Invocation.Status.SUCCEEDED
    assert [p.received.body for p in sqs.peek_messages(queue, now=clock.now())] == ["b"]
    assert Event.objects.filter(kind="mapping.deleted").count() == 1


def test_a_poller_that_cannot_decrypt_backs_off_and_says_why_until_the_key_is_enabled(
    workspace, clock
):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    function = make_function(workspace, clock=clock, duration=1)
    mapping = make_mapping(queue, function, clock=clock)
    sqs.send_message(queue, body="payslip", clock=clock)
    kms.set_enabled(workspace, key.key_id, False, clock=clock)

    run_lambda_service(workspace, clock)
    mapping.refresh_from_db()
    assert mapping.poll_error_code == "KmsDisabled"
    assert "is not enabled" in mapping.poll_error
    assert not Invocation.objects.exists()
    # The poller waits before it tries again: the next ticks queue no poll.
    assert mapping.poll_requested_at is not None
    assert lambdas.claim_due_polls(workspace, clock=clock, wall_now=time.time()) == []
    assert lambdas.claim_due_polls(
        workspace, clock=clock, wall_now=time.time() + lambdas.POLL_RETRY_AFTER + 1
    )
    lambdas.poll(mapping, clock=clock)  # fails the same way: recorded once
    assert Event.objects.filter(kind="mapping.poll_failed").count() == 1

    kms.set_enabled(workspace, key.key_id, True, clock=clock)
    lambdas.poll(mapping, clock=clock)
    mapping.refresh_from_db()
    assert (mapping.poll_error, mapping.poll_requested_at) == ("", None)
    assert Invocation.objects.get().message_ids == [m.message_id for m in Message.objects.all()]
    assert Event.objects.filter(kind="mapping.poll_recovered").count() == 1


def test_disabling_a_trigger_clears_the_reason_its_polls_failed(workspace, clock):
    key = kms.create_key(workspace, clock=clock)
    queue = make_queue(workspace, clock=clock, KmsMasterKeyId=key.key_id)
    mapping = make_mapping(queue, make_function(workspace, clock=clock), clock=clock)
    sqs.send_message(queue, body="payslip", clock=clock)
    kms.set_enabled(workspace, key.key_id, False, clock=clock)
    lambdas.poll(mapping, clock=clock)
    mapping.refresh_from_db()
    assert mapping.poll_error_code == "KmsDisabled"

    lambdas.update_event_source_mapping(mapping, enabled=False, clock=clock)
    mapping.refresh_from_db()
    assert mapping.poll_error == ""


# --- FIFO queues ---------------------------------------------------------------------------


def test_fifo_group_is_processed_in_order_one_batch_at_a_time(workspace, clock):
    queue = make_queue(
        workspace, "orders.fifo", clock=clock, FifoQueue="true", ContentBasedDeduplication="true"
    )
    function = make_function(workspace, clock=clock, duration=2)
    make_mapping(queue, function, clock=clock, batch_size=2, maximum_concurrency=5)
    for n in range(4):
        sqs.send_message(queue, body=f"order {n}", group_id="customer-1", clock=clock)

    run_lambda_service(workspace, clock)
    # One group: the second batch waits for the first to be deleted, however much
    # concurrency the mapping has.
    [first] = Invocation.objects.all()
    assert [r["body"] for r in first.event["Records"]] == ["order 0", "order 1"]
    assert first.event["Records"][0]["attributes"]["MessageGroupId"] == "customer-1"
    wall = time.time() + lambdas.REQUEST_STALE_AFTER + 1
    assert lambdas.claim_due_polls(workspace, clock=clock, wall_now=wall) == []

    run_for(workspace, clock, 2)
    second = Invocation.objects.exclude(pk=first.pk).get()
    assert [r["body"] for r in second.event["Records"]] == ["order 2", "order 3"]


@pytest.mark.parametrize("reports", [False, True], ids=["whole-batch", "report-failures"])
def test_a_failed_fifo_group_is_retried_first_and_in_order(workspace, clock, reports):
    queue = make_queue(
        workspace,
        "orders.fifo",
        clock=clock,
        FifoQueue="true",
        ContentBasedDeduplication="true",
        VisibilityTimeout=10,
    )
    function = make_poison_consumer(queue, clock=clock, reports=reports, batch_size=10)
    for body in ("a1", "a2 poison", "a3"):
        sqs.send_message(queue, body=body, group_id="a", clock=clock)
    run_for(workspace, clock, 2)
    [first] = Invocation.objects.all()
    assert [r["body"] for r in first.event["Records"]] == ["a1", "a2 poison", "a3"]
    if reports:  # a1 is done; a2 and every record after it come back (§4.1)
        assert json.loads(first.response) == {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in first.event["Records"][1:]
            ]
        }
    # A later message of the group waits behind the failed ones, which come back first.
    sqs.send_message(queue, body="a4", group_id="a", clock=clock)
    lambdas.update_function(function, fail_when_body_contains="", clock=clock)
    run_for(workspace, clock, 12)
    second = Invocation.objects.exclude(pk=first.pk).order_by("started_at").first()
    expected = ["a2 poison", "a3", "a4"] if reports else ["a1", "a2 poison", "a3", "a4"]
    assert [r["body"] for r in second.event["Records"]] == expected
    assert second.started_at >= first.started_at + 10  # after the visibility timeout
    assert not Message.objects.filter(queue=queue).exists()


# --- batching windows, filters, reserved concurrency (lambda-sqs.md §1, §4.1, §6) ----------


def test_a_batching_window_gathers_messages_until_it_closes(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=1)
    make_mapping(queue, function, clock=clock, batch_size=100, batching_window=5)
    for i in range(15):
        sqs.send_message(queue, body=f"m{i}", clock=clock)

    run_lambda_service(workspace, clock)
    assert not Invocation.objects.exists()
    assert Event.objects.get(kind="mapping.window_opened").data["closes_at"] == clock.now() + 5
    run_for(workspace, clock, 4)
    assert not Invocation.objects.exists()
    run_for(workspace, clock, 1)
    [invocation] = Invocation.objects.all()
    assert len(invocation.event["Records"]) == 15


def test_a_full_batch_does_not_wait_for_its_window(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=1)
    make_mapping(queue, function, clock=clock, batch_size=12, batching_window=60)
    for i in range(30):
        sqs.send_message(queue, body=f"m{i}", clock=clock)
    run_lambda_service(workspace, clock)  # opens the window
    run_lambda_service(workspace, clock)
    sizes = sorted(len(i.event["Records"]) for i in Invocation.objects.all())
    assert sizes[-2:] == [12, 12]


def test_records_the_filters_turn_away_are_deleted_without_reaching_the_function(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=1)
    make_mapping(
        queue,
        function,
        clock=clock,
        filter_criteria={"Filters": [{"Pattern": '{"body": {"type": ["order"]}}'}]},
    )
    wanted = sqs.send_message(queue, body='{"type": "order", "id": 1}', clock=clock)
    unwanted = sqs.send_message(queue, body='{"type": "refund"}', clock=clock)
    plain = sqs.send_message(queue, body="not json", clock=clock)

    run_for(workspace, clock, 2)

    [invocation] = Invocation.objects.all()
    assert invocation.message_ids == [wanted.message_id]
    filtered = Event.objects.get(kind="mapping.filtered_out")
    assert set(filtered.data["message_ids"]) == {unwanted.message_id, plain.message_id}
    assert Message.objects.count() == 0


def test_reserved_concurrency_of_zero_leaves_the_messages_waiting_in_the_queue(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=1)
    make_mapping(queue, function, clock=clock)
    lambdas.set_reserved_concurrency(function, 0, clock=clock)
    sqs.send_message(queue, body="waits", clock=clock)

    run_for(workspace, clock, 5)
    assert not Invocation.objects.exists()
    assert sqs.counts(queue, now=clock.now()).visible == 1

    lambdas.set_reserved_concurrency(function, None, clock=clock)
    run_for(workspace, clock, 2)
    assert Invocation.objects.get().status == Invocation.Status.SUCCEEDED


def test_reserved_concurrency_caps_the_batches_running_at_once(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=10, timeout=10)
    make_mapping(queue, function, clock=clock, batch_size=1, maximum_concurrency=5)
    lambdas.set_reserved_concurrency(function, 2, clock=clock)
    for i in range(6):
        sqs.send_message(queue, body=f"m{i}", clock=clock)
    run_lambda_service(workspace, clock)
    assert Invocation.objects.filter(status=Invocation.Status.RUNNING).count() == 2


def test_a_direct_invoke_over_the_reservation_is_throttled_and_recorded(workspace, clock):
    function = make_function(workspace, clock=clock, duration=10, timeout=10)
    lambdas.set_reserved_concurrency(function, 1, clock=clock)
    lambdas.invoke(function, b"{}", invocation_type="RequestResponse", clock=clock)
    with pytest.raises(errors.TooManyRequestsException) as raised:
        lambdas.invoke(function, b"{}", invocation_type="RequestResponse", clock=clock)
    assert raised.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert Event.objects.get(kind="invocation.throttled").data["reserved_concurrency"] == 1


@pytest.mark.parametrize(
    ("returned", "failures"),
    [
        (None, []),
        ({}, []),
        ({"batchItemFailures": None}, []),
        ({"batchItemFailures": []}, []),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["b"]),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"id": "b"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),
        ("not an object", None),
    ],
)
def test_a_batch_item_failures_answer_is_read_as_lambda_reads_it(returned, failures):
    from broker.lambdas.invocations import item_failures

    records = [{"messageId": "a"}, {"messageId": "b"}]
    assert item_failures(returned, records) == failures


def test_pollers_start_at_five_and_add_300_a_minute_while_messages_wait(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=900)
    function = make_function(workspace, clock=clock, duration=600, timeout=600)
    make_mapping(queue, function, clock=clock, batch_size=1, maximum_concurrency=None)
    sqs.send_message_batch(
        queue, [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)], clock=clock
    )
    for _ in range(19):
        sqs.send_message_batch(
            queue, [{"Id": str(i), "MessageBody": "more"} for i in range(10)], clock=clock
        )

    def running() -> int:
        return Invocation.objects.filter(status=Invocation.Status.RUNNING).count()

    run_lambda_service(workspace, clock)
    assert running() == 5
    run_lambda_service(workspace, clock)  # at the cap with a backlog: scaling begins
    assert Event.objects.filter(kind="mapping.scaling_up").count() == 1
    clock.advance(6)
    run_lambda_service(workspace, clock)
    assert running() == 5 + 30
    clock.advance(30)
    run_lambda_service(workspace, clock)
    assert running() == 5 + 180


def test_maximum_concurrency_bounds_the_scaling(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=900)
    function = make_function(workspace, clock=clock, duration=600, timeout=600)
    make_mapping(queue, function, clock=clock, batch_size=1, maximum_concurrency=12)
    for _ in range(3):
        sqs.send_message_batch(
            queue, [{"Id": str(i), "MessageBody": "m"} for i in range(10)], clock=clock
        )
    run_for(workspace, clock, 60)
    assert Invocation.objects.filter(status=Invocation.Status.RUNNING).count() == 12


def test_pollers_scale_back_down_when_the_queue_is_empty(workspace, clock):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=60)
    function = make_function(workspace, clock=clock, duration=10, timeout=10)
    mapping = make_mapping(queue, function, clock=clock, batch_size=1, maximum_concurrency=None)
    sqs.send_message_batch(
        queue, [{"Id": str(i), "MessageBody": "m"} for i in range(10)], clock=clock
    )
    run_lambda_service(workspace, clock)
    run_lambda_service(workspace, clock)
    run_for(workspace, clock, 30)
    mapping.refresh_from_db()
    assert mapping.scaling_since is None
    assert Event.objects.get(kind="mapping.scaled_down").data["to"] == 5
    assert lambdas.concurrency_cap(mapping, now=clock.now()) == 5


# --- the seed's partial failure: 4 of 6 succeed ---------------------------------------

SIX = ["ok 1", "ok 2", "ok 3", "ok 4", "poison 5", "poison 6"]


def six_in_one_batch(workspace, clock, *, report: bool, mapping_reports: bool):
    queue = make_queue(workspace, clock=clock, VisibilityTimeout=30)
    function = make_function(
        workspace,
        clock=clock,
        duration=2,
        fail_when_body_contains="poison",
        report_failed_records=report,
    )
    sqs.send_message_batch(
        queue, [{"Id": str(i), "MessageBody": b} for i, b in enumerate(SIX)], clock=clock
    )
    make_mapping(
        queue,
        function,
        clock=clock,
        batch_size=6,
        function_response_types=["ReportBatchItemFailures"] if mapping_reports else [],
    )
    return queue


def bodies_left(queue, clock) -> list[str]:
    peeked = sqs.peek_messages(queue, now=clock.now(), show_invisible=True)
    return sorted(p.received.body for p in peeked)


def test_one_poison_record_brings_the_whole_batch_of_six_back(workspace, clock):
    queue = six_in_one_batch(workspace, clock, report=False, mapping_reports=False)
    run_for(workspace, clock, 3)
    [invocation] = Invocation.objects.all()
    assert invocation.error == 'Exception: record 5 of 6 contains "poison"'
    assert bodies_left(queue, clock) == sorted(SIX)
    reasons = Event.objects.filter(kind="message.batch_failed").values_list(
        "data__reason", flat=True
    )
    assert len(reasons) == 6
    assert set(reasons) == {
        'the batch of 6 failed in ConsumerFunction: Exception: record 5 of 6 contains "poison"'
    }

    run_for(workspace, clock, 30)  # the visibility timeout ends: all six, again
    second = Invocation.objects.order_by("started_at").last()
    assert second.pk != invocation.pk
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second.event["Records"]} == {"2"}
    assert sorted(r["body"] for r in second.event["Records"]) == sorted(SIX)


def test_with_report_batch_item_failures_only_the_two_poison_records_come_back(workspace, clock):
    queue = six_in_one_batch(workspace, clock, report=True, mapping_reports=True)
    run_for(workspace, clock, 3)
    [invocation] = Invocation.objects.all()
    assert invocation.status == Invocation.Status.SUCCEEDED
    assert bodies_left(queue, clock) == ["poison 5", "poison 6"]
    assert set(
        Event.objects.filter(kind="message.batch_failed").values_list("data__reason", flat=True)
    ) == {"reported in batchItemFailures by ConsumerFunction"}


def test_batch_item_failures_are_ignored_when_the_trigger_does_not_ask_for_them(workspace, clock):
    queue = six_in_one_batch(workspace, clock, report=True, mapping_reports=False)
    run_for(workspace, clock, 3)
    # Lambda ignores the answer: the batch succeeded, so all six are deleted.
    assert bodies_left(queue, clock) == []


# --- the execution role's SQS actions (lambda-sqs.md §7) --------------------------------


def test_a_trigger_is_refused_when_the_role_cannot_delete_messages(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock)
    roles.set_actions(function, ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"], clock=clock)
    with pytest.raises(errors.InvalidParameterValueException) as raised:
        make_mapping(queue, function, clock=clock)
    assert raised.value.message == (
        "The provided execution role does not have permissions to call DeleteMessage on SQS"
    )
    roles.set_actions(function, list(roles.SQS_QUEUE_EXECUTION_ROLE), clock=clock)
    assert make_mapping(queue, function, clock=clock).enabled


def test_relaxed_rules_do_not_enforce_the_role(relaxed_rules, clock):
    workspace = relaxed_rules
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock)
    roles.set_actions(function, [], clock=clock)
    assert make_mapping(queue, function, clock=clock).enabled


def test_a_role_without_receive_message_stops_the_poller_and_says_why(workspace, clock):
    queue = make_queue(workspace, clock=clock)
    function = make_function(workspace, clock=clock, duration=1)
    mapping = make_mapping(queue, function, clock=clock)
    roles.set_actions(function, ["sqs:DeleteMessage", "sqs:GetQueueAttributes"], clock=clock)
    sqs.send_message(queue, body="waits", clock=clock)

    run_lambda_service(workspace, clock)
    mapping.refresh_from_db()
    assert mapping.poll_error == (
        "AccessDeniedException: The function execution role does not have permissions to "
        "call ReceiveMessage on SQS"
    )
    assert not Invocation.objects.exists()
    assert sqs.counts(queue, now=clock.now()).visible == 1


def test_a_role_without_delete_message_sends_every_batch_back_to_the_dlq(workspace, clock):
    queue, dlq = with_redrive(workspace, clock, max_receive_count=2, VisibilityTimeout=10)
    function = make_function(workspace, clock=clock, duration=1)
    make_mapping(queue, function, clock=clock)
    roles.set_actions(function, ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"], clock=clock)
    sent = sqs.send_message(queue, body="order", clock=clock)

    run_for(workspace, clock, 40)

    statuses = set(Invocation.objects.values_list("status", flat=True))
    assert statuses == {Invocation.Status.SUCCEEDED}
    assert Message.objects.get().queue == dlq
    reasons = Event.objects.filter(kind="message.batch_failed", message_id=sent.message_id)
    assert reasons.first().data["reason"] == (
        "ConsumerFunction processed it, but could not delete it: its execution role does not "
        "allow sqs:DeleteMessage"
    )
    assert "message.moved_to_dlq" in timeline(sent.message_id)
