"""Real boto3 (JSON protocol) against a live playground: every SQS action and its errors.

The server root is the endpoint_url; secret `test` with any key is the local
convention (README). Expectations follow shared/reference/sqs.md and protocols.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.broker.api.conftest import make_client


def aws_md5_of_attributes(attributes: dict) -> str:
    """SQS's MD5OfMessageAttributes, written from the developer guide (sqs.md §3.2)."""
    buf = b""
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        buf += struct.pack(">I", len(name.encode())) + name.encode()
        buf += struct.pack(">I", len(data_type.encode())) + data_type.encode()
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            buf += b"\x02" + struct.pack(">I", len(raw)) + raw
        else:
            raw = value["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(raw)) + raw
    return hashlib.md5(buf).hexdigest()


def error_of(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return {**response["Error"], "status": response["ResponseMetadata"]["HTTPStatusCode"]}


def unique(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- queues ---------------------------------------------------------------------------


def test_a_queue_url_is_the_endpoint_as_the_client_sent_it_plus_account_and_name(
    sqs, live_server_url
):
    name = unique()
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"{live_server_url}/000000000000/{name}"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url


def test_create_queue_with_attributes_and_tags_then_read_them_back(sqs):
    url = sqs.create_queue(
        QueueName=unique(),
        Attributes={"VisibilityTimeout": "45", "DelaySeconds": "2"},
        tags={"team": "blue", "env": "dev"},
    )["QueueUrl"]
    named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert named["Attributes"] == {"VisibilityTimeout": "45"}
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert everything["DelaySeconds"] == "2"
    assert everything["ApproximateNumberOfMessages"] == "0"
    assert everything["QueueArn"].endswith(":000000000000:" + url.rsplit("/", 1)[1])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "blue", "env": "dev"}


def test_creating_the_same_queue_twice_is_idempotent_but_not_with_other_attributes(sqs):
    name = unique()
    first = sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})["QueueUrl"]
    assert sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})["QueueUrl"] == first
    error = error_of(sqs.create_queue, QueueName=name, Attributes={"DelaySeconds": "2"})
    assert (error["Code"], error["status"]) == ("QueueAlreadyExists", 400)


def test_set_queue_attributes_changes_them(sqs, queue_url):
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"ReceiveMessageWaitTimeSeconds": "3"})
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ReceiveMessageWaitTimeSeconds"]
    )
    assert attrs["Attributes"] == {"ReceiveMessageWaitTimeSeconds": "3"}


def test_list_queues_filters_by_prefix_and_pages_with_a_next_token(sqs):
    prefix = unique("page")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(3)]
    assert sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"] == urls
    assert "NextToken" not in sqs.list_queues(QueueNamePrefix=prefix)
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert first["QueueUrls"] == urls[:2]
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    assert rest["QueueUrls"] == urls[2:]
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=unique("none"))


def test_deleted_queue_no_longer_exists(sqs, queue_url):
    sqs.delete_queue(QueueUrl=queue_url)
    error = error_of(sqs.get_queue_attributes, QueueUrl=queue_url, AttributeNames=["All"])
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["QueryErrorCode"] == "QueueDoesNotExist"
    assert error["status"] == 400


def strict_client(learner_workspace):
    """A learner's own workspace: AWS's strict rules, as browser workspaces start."""
    return make_client(
        learner_workspace.url.split("/w/")[0],
        key=learner_workspace.access_key,
        secret=learner_workspace.secret,
    )


def test_recreating_a_queue_right_after_deleting_it_is_refused(learner_workspace):
    sqs = strict_client(learner_workspace)
    name = unique("again")
    sqs.delete_queue(QueueUrl=sqs.create_queue(QueueName=name)["QueueUrl"])
    with pytest.raises(sqs.exceptions.QueueDeletedRecently) as caught:
        sqs.create_queue(QueueName=name)
    error = caught.value.response
    assert error["Error"]["Code"] == "AWS.SimpleQueueService.QueueDeletedRecently"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_relaxed_rules_let_a_test_suite_recreate_and_purge_at_once(sqs, queue_url):
    """The test-credential accounts start relaxed, as other local emulators are."""
    sqs.purge_queue(QueueUrl=queue_url)
    sqs.purge_queue(QueueUrl=queue_url)
    sqs.delete_queue(QueueUrl=queue_url)
    assert sqs.create_queue(QueueName=queue_url.rsplit("/", 1)[-1])["QueueUrl"] == queue_url


def test_a_missing_queue_raises_the_modeled_queue_does_not_exist(sqs):
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as caught:
        sqs.get_queue_url(QueueName=unique("missing"))
    assert caught.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_tag_and_untag_a_queue(sqs, queue_url):
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=queue_url)
    sqs.tag_queue(QueueUrl=queue_url, Tags={"a": "1", "b": "2"})
    sqs.untag_queue(QueueUrl=queue_url, TagKeys=["a"])
    assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"b": "2"}


def test_list_dead_letter_source_queues_names_the_queues_that_redrive_there(sqs):
    dlq = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    policy = json.dumps({"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": "2"})
    source = sqs.create_queue(QueueName=unique("src"), Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]


def test_an_unknown_queue_attribute_is_refused(sqs, queue_url):
    error = error_of(sqs.get_queue_attributes, QueueUrl=queue_url, AttributeNames=["Colour"])
    assert (error["Code"], error["status"]) == ("InvalidAttributeName", 400)
    error = error_of(sqs.set_queue_attributes, QueueUrl=queue_url, Attributes={"Colour": "red"})
    assert error["Code"] == "InvalidAttributeName"


def test_an_out_of_range_queue_attribute_is_refused(sqs):
    error = error_of(
        sqs.create_queue, QueueName=unique(), Attributes={"VisibilityTimeout": "43201"}
    )
    assert (error["Code"], error["status"]) == ("InvalidAttributeValue", 400)


def test_add_and_remove_permission_edit_the_queue_policy(sqs, queue_url):
    sqs.add_permission(
        QueueUrl=queue_url,
        Label="partner",
        AWSAccountIds=["111122223333"],
        Actions=["SendMessage", "ReceiveMessage"],
    )
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    [statement] = policy["Statement"]
    assert statement["Sid"] == "partner"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statement["Action"] == ["SQS:SendMessage", "SQS:ReceiveMessage"]
    error = error_of(
        sqs.add_permission,
        QueueUrl=queue_url,
        Label="partner",
        AWSAccountIds=["111122223333"],
        Actions=["SendMessage"],
    )
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert "Already exists" in error["Message"]
    error = error_of(
        sqs.add_permission,
        QueueUrl=queue_url,
        Label="many",
        AWSAccountIds=["111122223333"],
        Actions=[f"A{i}" for i in range(8)],
    )
    assert (error["Code"], error["status"]) == ("OverLimit", 403)

    sqs.remove_permission(QueueUrl=queue_url, Label="partner")
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])
    assert "Policy" not in attrs.get("Attributes", {})
    error = error_of(sqs.remove_permission, QueueUrl=queue_url, Label="partner")
    assert "can't find label" in error["Message"]


# --- messages -------------------------------------------------------------------------

EVERY_TYPE = {
    "text": {"DataType": "String", "StringValue": "héllo wörld"},
    "count": {"DataType": "Number", "StringValue": "-12.5e3"},
    "qty": {"DataType": "Number.int", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "image": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG\r\n"},
    "json": {"DataType": "String.json", "StringValue": '{"a": [1, 2]}'},
}


def test_message_attributes_of_every_type_round_trip_with_aws_checksums(sqs, queue_url):
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="payload", MessageAttributes=EVERY_TYPE)
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"payload").hexdigest()
    assert sent["MD5OfMessageAttributes"] == aws_md5_of_attributes(EVERY_TYPE)
    [message] = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"] == EVERY_TYPE
    assert message["MD5OfMessageAttributes"] == aws_md5_of_attributes(EVERY_TYPE)
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]


def test_the_checksum_matches_the_value_aws_returned_for_the_documented_example(sqs, queue_url):
    attributes = {
        "Author": {"DataType": "String", "StringValue": "John Grisham"},
        "Title": {"DataType": "String", "StringValue": "The Whistler"},
        "WeeksOn": {"DataType": "Number", "StringValue": "6"},
    }
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="b", MessageAttributes=attributes)
    assert sent["MD5OfMessageAttributes"] == "d25a6aea97eb8f585bfa92d314504a92"


def test_receive_returns_only_the_message_attributes_asked_for(sqs, queue_url):
    attributes = {
        "order.id": {"DataType": "String", "StringValue": "1"},
        "order.total": {"DataType": "Number", "StringValue": "9"},
        "colour": {"DataType": "String", "StringValue": "red"},
    }
    sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=attributes)

    def receive(names):
        [m] = sqs.receive_message(
            QueueUrl=queue_url, MessageAttributeNames=names, VisibilityTimeout=0
        )["Messages"]
        return m

    assert set(receive(["order.*"])["MessageAttributes"]) == {"order.id", "order.total"}
    assert set(receive([".*"])["MessageAttributes"]) == set(attributes)
    only = receive(["colour"])
    assert set(only["MessageAttributes"]) == {"colour"}
    assert only["MD5OfMessageAttributes"] == aws_md5_of_attributes({"colour": attributes["colour"]})
    assert "MessageAttributes" not in receive([])


def test_receive_returns_only_the_system_attributes_asked_for(sqs, queue_url):
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody="x",
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}
        },
    )
    [m] = sqs.receive_message(
        QueueUrl=queue_url, MessageSystemAttributeNames=["SentTimestamp"], VisibilityTimeout=0
    )["Messages"]
    assert set(m["Attributes"]) == {"SentTimestamp"}
    [m] = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"])["Messages"]
    assert m["Attributes"]["AWSTraceHeader"] == "Root=1-abc"
    assert m["Attributes"]["ApproximateReceiveCount"] == "2"
    assert {"SenderId", "ApproximateFirstReceiveTimestamp"} <= set(m["Attributes"])


def test_a_delayed_message_is_not_received_until_its_delay_ends(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=1)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    started = time.monotonic()
    [m] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"]
    assert m["Body"] == "later"
    assert time.monotonic() - started < 3


def test_send_receive_delete_in_batches(sqs, queue_url):
    result = sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {
                "Id": f"m{i}",
                "MessageBody": f"body {i}",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(i)}},
            }
            for i in range(10)
        ],
    )
    assert sorted(e["Id"] for e in result["Successful"]) == sorted(f"m{i}" for i in range(10))
    assert result.get("Failed", []) == []
    received = []
    while len(received) < 10:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        received += batch.get("Messages", [])
    assert sorted(m["Body"] for m in received) == sorted(f"body {i}" for i in range(10))
    changed = sqs.change_message_visibility_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": f"c{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 60}
            for i, m in enumerate(received)
        ][:5]
        + [{"Id": "bad", "ReceiptHandle": "garbage", "VisibilityTimeout": 5}],
    )
    assert len(changed["Successful"]) == 5
    assert changed["Failed"][0]["Id"] == "bad"
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)
        ],
    )
    assert len(deleted["Successful"]) == 10
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (
        attrs["ApproximateNumberOfMessages"]
        == attrs["ApproximateNumberOfMessagesNotVisible"]
        == "0"
    )


def test_a_too_big_entry_fails_alone_in_a_batch(sqs):
    url = sqs.create_queue(QueueName=unique(), Attributes={"MaximumMessageSize": "1024"})[
        "QueueUrl"
    ]
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "small", "MessageBody": "ok"}, {"Id": "big", "MessageBody": "x" * 1025}],
    )
    assert [e["Id"] for e in result["Successful"]] == ["small"]
    [failed] = result["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
        "big",
        "InvalidParameterValue",
        True,
    )


def test_change_visibility_to_zero_makes_the_message_receivable_again(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="again")
    [m] = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=300)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
    )
    [again] = sqs.receive_message(
        QueueUrl=queue_url, AttributeNames=["ApproximateReceiveCount"], WaitTimeSeconds=2
    )["Messages"]
    assert again["MessageId"] == m["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=again["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)


def test_purge_empties_the_queue_once_a_minute(learner_workspace):
    sqs = strict_client(learner_workspace)
    queue_url = sqs.create_queue(QueueName=unique("purged"))["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="gone")
    sqs.purge_queue(QueueUrl=queue_url)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    error = error_of(sqs.purge_queue, QueueUrl=queue_url)
    assert (error["Code"], error["status"]) == ("AWS.SimpleQueueService.PurgeQueueInProgress", 403)


# --- long polling -------------------------------------------------------------------------


def test_a_long_poll_returns_as_soon_as_another_thread_sends(sqs, queue_url):
    sender = make_client(sqs.meta.endpoint_url)

    def send_soon():
        time.sleep(0.5)
        sender.send_message(QueueUrl=queue_url, MessageBody="wake up")

    thread = threading.Thread(target=send_soon)
    started = time.monotonic()
    thread.start()
    response = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=10)
    elapsed = time.monotonic() - started
    thread.join()
    assert [m["Body"] for m in response["Messages"]] == ["wake up"]
    assert 0.4 < elapsed < 2.0


def test_a_long_poll_with_nothing_to_receive_waits_out_its_time(sqs, queue_url):
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)
    assert 0.9 < time.monotonic() - started < 3


def test_the_queue_receive_wait_time_applies_when_the_call_names_none(sqs):
    url = sqs.create_queue(QueueName=unique(), Attributes={"ReceiveMessageWaitTimeSeconds": "1"})[
        "QueueUrl"
    ]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert 0.9 < time.monotonic() - started < 3


def test_a_send_wakes_a_waiting_long_poll_well_before_its_wait_ends(sqs, queue_url):
    sender = make_client(sqs.meta.endpoint_url)
    latencies = []
    for i in range(15):
        result = {}

        def poll(result=result):
            result["r"] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)
            result["t"] = time.perf_counter()

        thread = threading.Thread(target=poll)
        thread.start()
        time.sleep(0.15)
        before = time.perf_counter()
        sender.send_message(QueueUrl=queue_url, MessageBody=f"m{i}")
        thread.join()
        latencies.append(result["t"] - before)
        sqs.delete_message(
            QueueUrl=queue_url, ReceiptHandle=result["r"]["Messages"][0]["ReceiptHandle"]
        )
    latencies.sort()
    print(f"send→long-poll receive p50 {latencies[len(latencies) // 2] * 1000:.1f} ms")
    # The send wakes the poll, which would otherwise wait its 5 s: a bound a loaded CI
    # machine keeps (it missed 100 ms under a parallel browser run). Speed itself is
    # measured in bench/sqs_api.py, not asserted here.
    assert latencies[len(latencies) // 2] < 1.0


# --- errors -------------------------------------------------------------------------------


def test_max_number_of_messages_above_ten_is_invalid(sqs, queue_url):
    error = error_of(sqs.receive_message, QueueUrl=queue_url, MaxNumberOfMessages=11)
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert "MaxNumberOfMessages" in error["Message"]


def test_wait_time_above_twenty_seconds_is_invalid(sqs, queue_url):
    error = error_of(sqs.receive_message, QueueUrl=queue_url, WaitTimeSeconds=21)
    assert error["Code"] == "InvalidParameterValue"


def test_a_garbage_receipt_handle_is_invalid(sqs, queue_url):
    error = error_of(sqs.delete_message, QueueUrl=queue_url, ReceiptHandle="garbage")
    assert (error["Code"], error["status"]) == ("ReceiptHandleIsInvalid", 400)


def test_a_body_with_invalid_characters_is_refused(sqs, queue_url):
    error = error_of(sqs.send_message, QueueUrl=queue_url, MessageBody="bell \x07")
    assert (error["Code"], error["status"]) == ("InvalidMessageContents", 400)


def test_a_body_larger_than_the_maximum_message_size_is_refused(sqs, queue_url):
    error = error_of(sqs.send_message, QueueUrl=queue_url, MessageBody="x" * (1024 * 1024 + 1))
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert "Message must be shorter than 1048576 bytes" in error["Message"]


def test_an_unknown_system_attribute_on_send_is_refused(sqs, queue_url):
    error = error_of(
        sqs.send_message,
        QueueUrl=queue_url,
        MessageBody="x",
        MessageSystemAttributes={"Colour": {"DataType": "String", "StringValue": "red"}},
    )
    assert error["Code"] == "InvalidParameterValue"


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        (
            [{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)],
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        (
            [{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}],
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        ),
        ([{"Id": "not valid!", "MessageBody": "x"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
        (
            [{"Id": f"m{i}", "MessageBody": "x" * 110_000} for i in range(10)],
            "AWS.SimpleQueueService.BatchRequestTooLong",
        ),
    ],
)
def test_a_bad_batch_is_refused_as_a_whole(sqs, queue_url, entries, code):
    error = error_of(sqs.send_message_batch, QueueUrl=queue_url, Entries=entries)
    assert (error["Code"], error["status"]) == (code, 400)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)


def test_an_empty_batch_is_refused(live_server_url, queue_url):
    client = make_client(live_server_url, parameter_validation=False)
    error = error_of(client.delete_message_batch, QueueUrl=queue_url, Entries=[])
    assert (error["Code"], error["status"]) == ("AWS.SimpleQueueService.EmptyBatchRequest", 400)


def test_wrong_parameter_types_are_invalid_not_a_crash(live_server_url, queue_url):
    client = make_client(live_server_url, parameter_validation=False)
    error = error_of(client.receive_message, QueueUrl=queue_url, MaxNumberOfMessages="many")
    assert error["status"] == 400


def test_a_wrong_secret_does_not_match_the_signature(live_server_url):
    client = make_client(live_server_url, secret="not-test")
    error = error_of(client.list_queues)
    assert (error["Code"], error["status"]) == ("SignatureDoesNotMatch", 403)


def test_a_twelve_digit_access_key_is_its_own_account(live_server_url, sqs):
    other = make_client(live_server_url, key="123456789012")
    name = unique("mine")
    url = other.create_queue(QueueName=name)["QueueUrl"]
    assert url.endswith(f"/123456789012/{name}")
    assert url in other.list_queues(QueueNamePrefix=name)["QueueUrls"]
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=name)
    error = error_of(sqs.get_queue_url, QueueName=name)
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    error = error_of(sqs.send_message, QueueUrl=url, MessageBody="not yours")
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_binary_values_arrive_base64_encoded_on_the_wire(sqs, queue_url):
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody="b",
        MessageAttributes={"b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}},
    )
    [m] = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["b"])["Messages"]
    assert m["MessageAttributes"]["b"]["BinaryValue"] == base64.b64decode("AP8=")


def test_a_dead_letter_queue_that_denies_all_sources_refuses_a_redrive_policy(sqs):
    dlq = sqs.create_queue(
        QueueName=unique("dlq"),
        Attributes={"RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    policy = json.dumps(
        {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
    )
    error = error_of(
        sqs.create_queue, QueueName=unique("src"), Attributes={"RedrivePolicy": policy}
    )
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert "RedriveAllowPolicy" in error["Message"]
