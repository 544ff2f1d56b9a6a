"""An HTTP subscriber on this machine, through real boto3 and a real HTTP server on a
loopback port: the confirmation handshake, signed notifications verified as the AWS
SDKs' validators verify them, retries of a failing endpoint into its dead-letter
queue, and the UnsubscribeURL (sns.md §2.2, §3.2, §3.3, §7)."""

from __future__ import annotations

import base64
import json
import queue
import threading
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.broker.api.conftest import service_client
from tests.broker.api.test_sqs_boto3 import error_of

SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


class Subscriber:
    """A real HTTP endpoint: records each POST and answers with `status`."""

    def __init__(self):
        self.requests: queue.Queue = queue.Queue()
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                outer.requests.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 15.0) -> tuple[dict, str]:
        return self.requests.get(timeout=timeout)

    def close(self):
        self.server.shutdown()


@pytest.fixture
def subscriber():
    endpoint = Subscriber()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def sns(live_server_url):
    return service_client("sns", live_server_url)


def verify(envelope: dict) -> None:
    """What the AWS SDKs' SNS message validators check; raises when it does not hold."""
    assert envelope["SigningCertURL"].endswith(".pem")
    with urllib.request.urlopen(envelope["SigningCertURL"], timeout=10) as response:
        cert = x509.load_pem_x509_certificate(response.read())
    fields = SIGNED_FIELDS[envelope["Type"]]
    text = "".join(f"{k}\n{envelope[k]}\n" for k in fields if k in envelope)
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[envelope["SignatureVersion"]]
    cert.public_key().verify(
        base64.b64decode(envelope["Signature"]), text.encode(), padding.PKCS1v15(), algorithm
    )


def get_xml(url: str) -> ET.Element:
    with urllib.request.urlopen(url, timeout=10) as response:
        return ET.fromstring(response.read())


def text_of(root: ET.Element, name: str) -> str:
    return next(e.text for e in root.iter() if e.tag.endswith(name))


def confirmed(sns, subscriber, **attributes) -> tuple[str, str]:
    topic = sns.create_topic(Name=f"hook-{uuid.uuid4().hex[:10]}")["TopicArn"]
    answer = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=subscriber.url, Attributes=attributes
    )
    assert answer["SubscriptionArn"] == "pending confirmation"
    headers, body = subscriber.next()
    envelope = json.loads(body)
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    verify(envelope)
    arn = sns.confirm_subscription(TopicArn=topic, Token=envelope["Token"])["SubscriptionArn"]
    return topic, arn


def test_an_http_subscriber_confirms_and_verifies_each_signed_notification(sns, subscriber):
    topic = sns.create_topic(Name=f"hook-{uuid.uuid4().hex[:10]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == ["PendingConfirmation"]
    headers, body = subscriber.next()
    confirmation = json.loads(body)
    verify(confirmation)
    assert confirmation["TopicArn"] == topic

    # The owner of the endpoint follows the SubscribeURL, unsigned, as on AWS.
    answer = get_xml(confirmation["SubscribeURL"])
    assert answer.tag.endswith("ConfirmSubscriptionResponse")
    arn = text_of(answer, "SubscriptionArn")
    assert arn.startswith(f"{topic}:")
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "false"
    assert (
        json.loads(attributes["EffectiveDeliveryPolicy"])["healthyRetryPolicy"]["numRetries"] == 3
    )

    message_id = sns.publish(TopicArn=topic, Message="<b>order 7</b>", Subject="Order")["MessageId"]
    headers, body = subscriber.next()
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == message_id
    assert headers["x-amz-sns-subscription-arn"] == arn
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    envelope = json.loads(body)
    verify(envelope)
    assert (envelope["Message"], envelope["Subject"]) == ("<b>order 7</b>", "Order")

    answer = get_xml(envelope["UnsubscribeURL"])
    assert answer.tag.endswith("UnsubscribeResponse")
    headers, body = subscriber.next()
    assert headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_a_failing_endpoint_is_retried_under_its_policy_then_dead_lettered(sns, sqs, subscriber):
    dlq = sqs.create_queue(QueueName=f"hook-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}
    topic, arn = confirmed(
        sns,
        subscriber,
        DeliveryPolicy=json.dumps(policy),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}),
    )
    subscriber.status = 503
    message_id = sns.publish(TopicArn=topic, Message="unlucky")["MessageId"]
    attempts = [subscriber.next() for _ in range(3)]  # the first, then two retries 1 s apart
    assert {h["x-amz-sns-message-id"] for h, _ in attempts} == {message_id}

    messages = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=10).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert (envelope["MessageId"], envelope["Message"]) == (message_id, "unlucky")
    with pytest.raises(queue.Empty):
        subscriber.next(timeout=1.5)  # out of retries: no fourth attempt
    assert arn.startswith(topic)


def test_a_wrong_token_and_a_bad_delivery_policy_are_refused_as_sns_refuses_them(sns, subscriber):
    topic = sns.create_topic(Name=f"hook-{uuid.uuid4().hex[:10]}")["TopicArn"]
    error = error_of(sns.confirm_subscription, TopicArn=topic, Token="nope")
    assert (error["Code"], error["Message"]) == ("InvalidParameter", "Invalid parameter: Token")
    policy = json.dumps({"healthyRetryPolicy": {"numRetries": 101}})
    error = error_of(
        sns.subscribe,
        TopicArn=topic,
        Protocol="http",
        Endpoint=subscriber.url,
        Attributes={"DeliveryPolicy": policy},
    )
    assert error["Message"] == (
        "Invalid parameter: Attributes Reason: DeliveryPolicy: numRetries must be between "
        "0 and 100, not 101"
    )
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    with pytest.raises(queue.Empty):
        subscriber.next(timeout=0.5)


def test_sms_actions_answer_as_sns_does(sns):
    number = f"+1555{uuid.uuid4().int % 10**7:07d}"
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"] is False
    assert sns.publish(PhoneNumber=number, Message="code 1234")["MessageId"]
    assert number not in sns.list_phone_numbers_opted_out()["phoneNumbers"]
    sns.opt_in_phone_number(phoneNumber=number)
    sns.set_sms_attributes(attributes={"DefaultSMSType": "Transactional"})
    assert sns.get_sms_attributes(attributes=["DefaultSMSType"])["attributes"] == {
        "DefaultSMSType": "Transactional"
    }
    error = error_of(sns.publish, PhoneNumber="555", Message="x")
    assert error["Code"] == "InvalidParameter" and "E.164" in error["Message"]
