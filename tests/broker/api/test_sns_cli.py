"""SNS through the AWS CLI: topics, an SQS subscriber, publishing, confirmation errors
and the SMS actions, as `aws sns …` sends them (query protocol)."""

from __future__ import annotations

import json
import uuid

from tests.broker.api.test_sqs_cli import ok


def sns(aws, *args):
    return aws(*args, service="sns")


def test_topics_subscriptions_and_publish_with_the_cli(aws):
    name = f"cli-{uuid.uuid4().hex[:10]}"
    topic = ok(sns(aws, "create-topic", "--name", name, "--tags", "Key=team,Value=cli"))["TopicArn"]
    assert topic.endswith(f":000000000000:{name}")
    assert topic in [t["TopicArn"] for t in ok(sns(aws, "list-topics"))["Topics"]]
    queue_url = ok(aws("create-queue", "--queue-name", name))["QueueUrl"]
    queue_arn = ok(
        aws("get-queue-attributes", "--queue-url", queue_url, "--attribute-names", "QueueArn")
    )["Attributes"]["QueueArn"]
    subscription = ok(
        sns(
            aws,
            "subscribe",
            "--topic-arn",
            topic,
            "--protocol",
            "sqs",
            "--notification-endpoint",
            queue_arn,
            "--attributes",
            "RawMessageDelivery=true",
        )
    )["SubscriptionArn"]
    listed = ok(sns(aws, "list-subscriptions-by-topic", "--topic-arn", topic))["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == [subscription]

    message_id = ok(
        sns(
            aws,
            "publish",
            "--topic-arn",
            topic,
            "--message",
            "from the cli",
            "--message-attributes",
            json.dumps({"kind": {"DataType": "String", "StringValue": "cli"}}),
        )
    )["MessageId"]
    received = ok(
        aws(
            "receive-message",
            "--queue-url",
            queue_url,
            "--wait-time-seconds",
            "2",
            "--message-attribute-names",
            "All",
        )
    )["Messages"]
    assert received[0]["Body"] == "from the cli"
    assert received[0]["MessageAttributes"]["kind"]["StringValue"] == "cli"
    assert message_id

    attributes = ok(sns(aws, "get-topic-attributes", "--topic-arn", topic))["Attributes"]
    assert attributes["SubscriptionsConfirmed"] == "1"
    ok(sns(aws, "unsubscribe", "--subscription-arn", subscription))
    ok(sns(aws, "delete-topic", "--topic-arn", topic))
    assert topic not in [t["TopicArn"] for t in ok(sns(aws, "list-topics"))["Topics"]]


def test_cli_errors_are_snss(aws):
    topic = ok(sns(aws, "create-topic", "--name", f"cli-{uuid.uuid4().hex[:10]}"))["TopicArn"]
    result = sns(aws, "confirm-subscription", "--topic-arn", topic, "--token", "nope")
    assert result.returncode != 0
    assert "(InvalidParameter)" in result.stderr and "Invalid parameter: Token" in result.stderr
    result = sns(aws, "get-topic-attributes", "--topic-arn", topic + "-gone")
    assert "(NotFound)" in result.stderr and "Topic does not exist" in result.stderr


def test_sms_actions_with_the_cli(aws):
    number = f"+1555{uuid.uuid4().int % 10**7:07d}"
    answer = ok(sns(aws, "check-if-phone-number-is-opted-out", "--phone-number", number))
    assert answer == {"isOptedOut": False}
    assert ok(sns(aws, "publish", "--phone-number", number, "--message", "hi"))["MessageId"]
    ok(sns(aws, "set-sms-attributes", "--attributes", "DefaultSMSType=Promotional"))
    answer = ok(sns(aws, "get-sms-attributes", "--attributes", "DefaultSMSType"))
    assert answer["attributes"]["DefaultSMSType"] == "Promotional"
