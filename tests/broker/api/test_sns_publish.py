"""SNS subscriptions of SQS queues and Publish, through real boto3 (query protocol).

A published message reaches every subscribed queue at once, in the JSON envelope AWS
sends, signed: the test verifies each signature as the AWS SDKs' message validators
do (fetch SigningCertURL, build the string to sign, check it with the certificate).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.broker.api.conftest import service_client
from tests.broker.api.test_sqs_boto3 import error_of


@pytest.fixture(scope="module")
def sns(live_server_url):
    return service_client("sns", live_server_url)


def unique(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_queue(sqs, name: str | None = None, **attributes) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name or unique("q"), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def received(sqs, url: str, count: int = 1, **kwargs) -> list[dict]:
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2, **kwargs
    ).get("Messages", [])
    assert len(messages) == count, messages
    return messages


def verified(envelope: dict) -> bool:
    """What the AWS SDKs' SNS message validators check."""
    with urllib.request.urlopen(envelope["SigningCertURL"], timeout=10) as response:
        cert = x509.load_pem_x509_certificate(response.read())
    fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    text = "".join(f"{k}\n{envelope[k]}\n" for k in fields if k in envelope)
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[envelope["SignatureVersion"]]
    cert.public_key().verify(
        base64.b64decode(envelope["Signature"]), text.encode(), padding.PKCS1v15(), algorithm
    )
    return True


def test_a_published_message_reaches_the_queue_in_a_signed_envelope(sns, sqs):
    topic = sns.create_topic(Name=unique("orders"))["TopicArn"]
    url, arn = new_queue(sqs)
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    assert subscription.startswith(topic + ":")
    published = sns.publish(
        TopicArn=topic,
        Message="order 42 placed",
        Subject="New order",
        MessageAttributes={"priority": {"DataType": "Number", "StringValue": "7"}},
    )
    [message] = received(sqs, url)
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == published["MessageId"]
    assert (envelope["TopicArn"], envelope["Subject"], envelope["Message"]) == (
        topic,
        "New order",
        "order 42 placed",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", envelope["Timestamp"])
    assert envelope["MessageAttributes"] == {"priority": {"Type": "Number", "Value": "7"}}
    assert envelope["UnsubscribeURL"].endswith(
        "?Action=Unsubscribe&SubscriptionArn=" + subscription.replace(":", "%3A")
    )
    assert envelope["SignatureVersion"] == "1" and verified(envelope)
    assert "MessageAttributes" not in message  # the SQS message itself carries none


def test_signature_version_2_signs_with_sha256_and_a_subjectless_envelope_has_no_subject(sns, sqs):
    topic = sns.create_topic(Name=unique(), Attributes={"SignatureVersion": "2"})["TopicArn"]
    url, arn = new_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="no subject here")
    envelope = json.loads(received(sqs, url)[0]["Body"])
    assert "Subject" not in envelope and "MessageAttributes" not in envelope
    assert envelope["SignatureVersion"] == "2" and verified(envelope)


def test_one_publish_fans_out_to_every_subscribed_queue(sns, sqs):
    topic = sns.create_topic(Name=unique("fanout"))["TopicArn"]
    queues = [new_queue(sqs) for _ in range(3)]
    for _url, arn in queues:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    published = sns.publish(TopicArn=topic, Message="tell everyone")
    for url, _arn in queues:
        assert json.loads(received(sqs, url)[0]["Body"])["MessageId"] == published["MessageId"]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["SubscriptionsConfirmed"] == "3"


def test_raw_delivery_sends_the_bare_message_with_its_attributes_as_sqs_attributes(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    url, arn = new_queue(sqs)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    sns.publish(
        TopicArn=topic,
        Message="raw body",
        MessageAttributes={
            "color": {"DataType": "String", "StringValue": "red"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    [message] = received(sqs, url, MessageAttributeNames=["All"])
    assert message["Body"] == "raw body"
    assert message["MessageAttributes"]["color"] == {"StringValue": "red", "DataType": "String"}
    assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"


def test_message_structure_json_gives_sqs_its_own_message(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    url, arn = new_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(
        TopicArn=topic,
        MessageStructure="json",
        Message=json.dumps({"default": "for everyone", "sqs": "for queues"}),
    )
    assert json.loads(received(sqs, url)[0]["Body"])["Message"] == "for queues"
    error = error_of(
        sns.publish, TopicArn=topic, MessageStructure="json", Message=json.dumps({"sqs": "x"})
    )
    assert (
        error["Message"]
        == "Invalid parameter: Message Structure - No default entry in JSON message body"
    )


def test_a_refused_publish_delivers_nothing(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    url, arn = new_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    for kwargs, code, text in (
        ({"Message": ""}, "InvalidParameter", "Invalid parameter: Empty message"),
        ({"Message": "x", "Subject": "s" * 100}, "InvalidParameter", "Invalid parameter: Subject"),
        ({"Message": "x" * 262_145}, "InvalidParameter", "Invalid parameter: Message too long"),
        (
            {"Message": "x", "MessageAttributes": {"a": {"DataType": "Date", "StringValue": "1"}}},
            "ParameterValueInvalid",
            "The message attribute 'a' has an invalid message attribute type, the set of "
            "supported type prefixes is Binary, Number, and String.",
        ),
        (
            {"Message": "x", "MessageDeduplicationId": "d"},
            "InvalidParameter",
            "Invalid parameter: MessageDeduplicationId Reason: The request includes "
            "MessageDeduplicationId parameter that is not valid for this topic type",
        ),
    ):
        error = error_of(sns.publish, TopicArn=topic, **kwargs)
        assert (error["Code"], error["status"], error["Message"]) == (code, 400, text)
    error = error_of(sns.publish, TopicArn=topic + "-gone", Message="x")
    assert (error["Code"], error["status"]) == ("NotFound", 404)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_a_fifo_topic_keeps_group_order_into_a_fifo_queue(sns, sqs):
    topic = sns.create_topic(
        Name=unique() + ".fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
    )["TopicArn"]
    url, arn = new_queue(sqs, unique("q") + ".fifo", FifoQueue="true")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    error = error_of(sns.publish, TopicArn=topic, Message="no group")
    assert (
        error["Message"]
        == "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    )
    numbers = [
        sns.publish(TopicArn=topic, Message=f"step {i}", MessageGroupId="order-1")["SequenceNumber"]
        for i in range(3)
    ]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    messages = received(sqs, url, 3, AttributeNames=["MessageGroupId"])
    assert [json.loads(m["Body"])["Message"] for m in messages] == ["step 0", "step 1", "step 2"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"order-1"}
    assert "Signature" not in json.loads(messages[0]["Body"])  # FIFO envelopes are unsigned
    standard_topic = sns.create_topic(Name=unique())["TopicArn"]
    error = error_of(sns.subscribe, TopicArn=standard_topic, Protocol="sqs", Endpoint=arn)
    assert error["Message"] == (
        "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
        "subscribed to standard SNS topics"
    )


def test_subscriptions_are_listed_described_changed_and_removed(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    url, arn = new_queue(sqs)
    error = error_of(sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint=url)
    assert error["Message"] == "Invalid parameter: SQS endpoint ARN"
    error = error_of(sns.subscribe, TopicArn=topic, Protocol="pigeon", Endpoint="x")
    assert error["Message"] == (
        "Invalid parameter: Amazon SNS does not support this protocol string: pigeon"
    )
    error = error_of(sns.subscribe, TopicArn=topic, Protocol="https", Endpoint="https://x.test/")
    assert "not to other hosts" in error["Message"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    assert (
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        == subscription
    )
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed == [
        {
            "SubscriptionArn": subscription,
            "Owner": "000000000000",
            "Protocol": "sqs",
            "Endpoint": arn,
            "TopicArn": topic,
        }
    ]
    assert subscription in [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
    assert (attributes["RawMessageDelivery"], attributes["PendingConfirmation"]) == (
        "false",
        "false",
    )
    error = error_of(
        sns.set_subscription_attributes,
        SubscriptionArn=subscription,
        AttributeName="RawMessageDelivery",
        AttributeValue="wrongvalue",
    )
    assert error["Message"] == (
        "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [wrongvalue]. "
        "Must be true or false."
    )
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    sns.publish(TopicArn=topic, Message="bare")
    assert received(sqs, url)[0]["Body"] == "bare"
    sns.unsubscribe(SubscriptionArn=subscription)
    sns.unsubscribe(SubscriptionArn=subscription)  # no error the second time
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    error = error_of(sns.get_subscription_attributes, SubscriptionArn=subscription)
    assert (error["Code"], error["status"]) == ("NotFound", 404)


def test_a_queue_that_is_gone_fails_its_delivery_alone(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    kept_url, kept = new_queue(sqs)
    gone_url, gone = new_queue(sqs)
    for arn in (kept, gone):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sqs.delete_queue(QueueUrl=gone_url)
    sns.publish(TopicArn=topic, Message="still delivered")
    assert json.loads(received(sqs, kept_url)[0]["Body"])["Message"] == "still delivered"


def test_deleting_a_topic_removes_its_subscriptions(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    _url, arn = new_queue(sqs)
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    sns.delete_topic(TopicArn=topic)
    error = error_of(sns.get_subscription_attributes, SubscriptionArn=subscription)
    assert error["Code"] == "NotFound"


def test_a_filter_policy_decides_which_queues_get_a_copy(sns, sqs):
    topic = sns.create_topic(Name=unique("orders"))["TopicArn"]
    big_url, big = new_queue(sqs)
    eu_url, eu = new_queue(sqs)
    all_url, everything = new_queue(sqs)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=big,
        Attributes={"FilterPolicy": json.dumps({"total": [{"numeric": [">", 100]}]})},
    )
    eu_subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=eu)["SubscriptionArn"]
    sns.set_subscription_attributes(
        SubscriptionArn=eu_subscription,
        AttributeName="FilterPolicyScope",
        AttributeValue="MessageBody",
    )
    sns.set_subscription_attributes(
        SubscriptionArn=eu_subscription,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"address": {"country": ["NL", "BE"]}}),
    )
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=everything)

    def order(total: int, country: str):
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"address": {"country": country}}),
            MessageAttributes={"total": {"DataType": "Number", "StringValue": str(total)}},
        )

    order(250, "US")  # big, not in the EU
    order(20, "NL")  # small, in the EU

    def bodies(url: str, count: int) -> list[dict]:
        return [json.loads(json.loads(m["Body"])["Message"]) for m in received(sqs, url, count)]

    assert bodies(big_url, 1) == [{"address": {"country": "US"}}]
    assert bodies(eu_url, 1) == [{"address": {"country": "NL"}}]
    assert len(bodies(all_url, 2)) == 2


def test_a_filter_policy_sns_would_refuse_is_refused_with_its_words(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    _url, arn = new_queue(sqs)
    error = error_of(
        sns.subscribe,
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"a": []})},
    )
    assert error["Message"] == (
        "Invalid parameter: Attributes Reason: FilterPolicy: Empty arrays are not allowed"
    )
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    error = error_of(
        sns.set_subscription_attributes,
        SubscriptionArn=subscription,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"a": {"b": ["c"]}}),
    )
    assert error["Message"] == (
        "Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not "
        "support nested filter policy"
    )


def test_publish_batch_publishes_each_entry_and_fails_the_bad_ones_alone(sns, sqs):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    url, arn = new_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    result = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "first", "Message": "one"},
            {"Id": "empty", "Message": ""},
            {"Id": "third", "Message": "three", "Subject": "numbers"},
        ],
    )
    assert [s["Id"] for s in result["Successful"]] == ["first", "third"]
    [failed] = result["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
        "empty",
        "InvalidParameter",
        True,
    )
    assert failed["Message"] == "Invalid parameter: Empty message"
    bodies = sorted(json.loads(m["Body"])["Message"] for m in received(sqs, url, 2))
    assert bodies == ["one", "three"]


def test_publish_batch_refuses_a_bad_request_whole(sns):
    topic = sns.create_topic(Name=unique())["TopicArn"]
    for entries, code in (
        ([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "m"}], "BatchEntryIdsNotDistinct"),
        ([{"Id": "no spaces", "Message": "m"}], "InvalidBatchEntryId"),
        (
            [{"Id": str(i), "Message": "x" * 40_000} for i in range(7)],
            "BatchRequestTooLong",
        ),
    ):
        error = error_of(sns.publish_batch, TopicArn=topic, PublishBatchRequestEntries=entries)
        assert (error["Code"], error["status"]) == (code, 400)
