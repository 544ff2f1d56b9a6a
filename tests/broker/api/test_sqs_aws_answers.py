"""SQS answers as AWS gives them where other emulators differ, so that test suites written
against AWS pass here unchanged: a queue name in place of a URL, FIFO batches that lack a
group or deduplication id, tag rules, and AWS's own texts (sqs.md §3, §4, §10, §11).
Every refused request leaves the queue as it was."""

from __future__ import annotations

import pytest

from tests.broker.api.test_sqs_boto3 import error_of, unique

PROTOCOLS = ["json", "query"]


@pytest.fixture
def client(request, sqs, query_sqs):
    return sqs if request.param == "json" else query_sqs


def fifo_queue(client, content_based: bool = False) -> str:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": str(content_based).lower()}
    return client.create_queue(QueueName=unique("f") + ".fifo", Attributes=attributes)["QueueUrl"]


def depth(client, url: str) -> int:
    attributes = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_queue_name_given_as_queue_url_names_the_callers_queue(client):
    name = unique()
    url = client.create_queue(QueueName=name)["QueueUrl"]
    client.send_message(QueueUrl=name, MessageBody="by name")
    received = client.receive_message(QueueUrl=name, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in received] == ["by name"]
    client.delete_message(QueueUrl=name, ReceiptHandle=received[0]["ReceiptHandle"])
    assert depth(client, url) == 0
    error = error_of(client.send_message, QueueUrl=unique("missing"), MessageBody="x")
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_fifo_batch_with_an_entry_without_group_fails_whole_and_sends_nothing(client):
    url = fifo_queue(client)
    entries = [
        {"Id": "good", "MessageBody": "a", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
        {"Id": "nogroup", "MessageBody": "b", "MessageDeduplicationId": "2"},
    ]
    error = error_of(client.send_message_batch, QueueUrl=url, Entries=entries)
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert error["Message"] == "The request must contain the parameter MessageGroupId."
    assert depth(client, url) == 0


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_fifo_batch_without_deduplication_id_fails_unless_content_based(client):
    entries = [{"Id": "a", "MessageBody": "a", "MessageGroupId": "g"}]
    url = fifo_queue(client)
    error = error_of(client.send_message_batch, QueueUrl=url, Entries=entries)
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert error["Message"] == (
        "The queue should either have ContentBasedDeduplication enabled or "
        "MessageDeduplicationId provided explicitly"
    )
    assert depth(client, url) == 0
    content_based = fifo_queue(client, content_based=True)
    result = client.send_message_batch(QueueUrl=content_based, Entries=entries)
    assert [s["Id"] for s in result["Successful"]] == ["a"]


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_batch_entry_delayed_past_900_seconds_fails_alone(client, queue_url):
    result = client.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "late", "MessageBody": "a", "DelaySeconds": 901},
            {"Id": "fine", "MessageBody": "b"},
        ],
    )
    assert [s["Id"] for s in result["Successful"]] == ["fine"]
    [failed] = result["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
        "late",
        "InvalidParameterValue",
        True,
    )
    assert "Value 901 for parameter DelaySeconds is invalid." in failed["Message"]


BAD_TAGS = [
    ({"k" * 129: "v"}, "Tag keys must be between 1 and 128 characters in length."),
    ({"": "v"}, "Tag keys must be between 1 and 128 characters in length."),
    ({"k": "v" * 257}, "Tag values must be less than 256 characters in length."),
    ({"aws:team": "v"}, "Tag key aws:team is invalid. Reason: The prefix aws: is reserved"),
    ({"team#1": "v"}, "Tag key team#1 is invalid. Reason: A tag key can contain only"),
    ({f"k{i}": "v" for i in range(50)}, "Too many tags added for queue"),
]


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
@pytest.mark.parametrize(("tags", "message"), BAD_TAGS)
def test_tag_queue_refuses_a_bad_tag_and_keeps_the_tags_it_had(client, queue_url, tags, message):
    client.tag_queue(QueueUrl=queue_url, Tags={"team": "billing"})
    error = error_of(client.tag_queue, QueueUrl=queue_url, Tags=tags)
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert error["Message"].startswith(message)
    assert client.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"team": "billing"}


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_tags_in_unicode_letters_digits_and_the_allowed_punctuation_are_kept(client, queue_url):
    tags = {"équipe 1": "facturation", "cost_center:a/b=c+d-e@f.g": "", "k" * 128: "v" * 256}
    client.tag_queue(QueueUrl=queue_url, Tags=tags)
    assert client.list_queue_tags(QueueUrl=queue_url)["Tags"] == tags


def test_create_queue_with_a_bad_tag_creates_no_queue(sqs):
    name = unique()
    error = error_of(sqs.create_queue, QueueName=name, tags={"aws:owner": "me"})
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    error = error_of(sqs.get_queue_url, QueueName=name)
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_untag_queue_refuses_a_key_longer_than_128(client, queue_url):
    client.tag_queue(QueueUrl=queue_url, Tags={"team": "billing"})
    error = error_of(client.untag_queue, QueueUrl=queue_url, TagKeys=["team", "k" * 129])
    assert error["Message"] == "Tag keys must be between 1 and 128 characters in length."
    assert client.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"team": "billing"}


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
@pytest.mark.parametrize(
    ("action", "shape"),
    [
        ("send_message_batch", "SendMessageBatchRequestEntry"),
        ("delete_message_batch", "DeleteMessageBatchRequestEntry"),
        ("change_message_visibility_batch", "ChangeMessageVisibilityBatchRequestEntry"),
    ],
)
def test_an_empty_batch_names_the_entries_of_its_action(client, queue_url, action, shape):
    error = error_of(getattr(client, action), QueueUrl=queue_url, Entries=[])
    assert (error["Code"], error["status"]) == ("AWS.SimpleQueueService.EmptyBatchRequest", 400)
    assert error["Message"] == f"There should be at least one {shape} in the request."


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
@pytest.mark.parametrize("name", ["AWS.trace", "amazon.id", ".hidden", "trailing."])
def test_a_reserved_or_dotted_attribute_name_gets_awss_text(client, queue_url, name):
    attributes = {name: {"DataType": "String", "StringValue": "v"}}
    error = error_of(
        client.send_message, QueueUrl=queue_url, MessageBody="x", MessageAttributes=attributes
    )
    assert (error["Code"], error["status"]) == ("InvalidParameterValue", 400)
    assert error["Message"].startswith(
        "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'."
    )
    assert depth(client, queue_url) == 0


@pytest.mark.parametrize("client", PROTOCOLS, indirect=True)
def test_a_malformed_receipt_handle_is_receipt_handle_is_invalid(client, queue_url):
    for call in (client.delete_message, client.change_message_visibility):
        kwargs = {"VisibilityTimeout": 5} if call == client.change_message_visibility else {}
        error = error_of(call, QueueUrl=queue_url, ReceiptHandle="garbage", **kwargs)
        assert (error["Code"], error["status"]) == ("ReceiptHandleIsInvalid", 400)
        assert (
            error["Message"] == 'The input receipt handle "garbage" is not a valid receipt handle.'
        )
