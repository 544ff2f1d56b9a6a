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


def test_attributes_tags_permissions_and_batches_with_the_cli(aws):
    topic = ok(sns(aws, "create-topic", "--name", f"cli-{uuid.uuid4().hex[:10]}"))["TopicArn"]
    ok(
        sns(
            aws,
            "set-topic-attributes",
            "--topic-arn",
            topic,
            "--attribute-name",
            "DisplayName",
            "--attribute-value",
            "Orders",
        )
    )
    attributes = ok(sns(aws, "get-topic-attributes", "--topic-arn", topic))["Attributes"]
    assert attributes["DisplayName"] == "Orders"
    ok(sns(aws, "tag-resource", "--resource-arn", topic, "--tags", "Key=team,Value=cli"))
    tags = ok(sns(aws, "list-tags-for-resource", "--resource-arn", topic))["Tags"]
    assert tags == [{"Key": "team", "Value": "cli"}]
    ok(sns(aws, "untag-resource", "--resource-arn", topic, "--tag-keys", "team"))
    assert ok(sns(aws, "list-tags-for-resource", "--resource-arn", topic))["Tags"] == []
    ok(
        sns(
            aws,
            "add-permission",
            "--topic-arn",
            topic,
            "--label",
            "partner",
            "--aws-account-id",
            "111122223333",
            "--action-name",
            "Publish",
        )
    )
    policy = ok(sns(aws, "get-topic-attributes", "--topic-arn", topic))["Attributes"]["Policy"]
    assert '"Sid":"partner"' in policy.replace(" ", "")
    ok(sns(aws, "remove-permission", "--topic-arn", topic, "--label", "partner"))

    queue_url = ok(aws("create-queue", "--queue-name", f"cli-{uuid.uuid4().hex[:10]}"))["QueueUrl"]
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
        )
    )["SubscriptionArn"]
    ok(
        sns(
            aws,
            "set-subscription-attributes",
            "--subscription-arn",
            subscription,
            "--attribute-name",
            "FilterPolicy",
            "--attribute-value",
            '{"kind": ["order"]}',
        )
    )
    attributes = ok(sns(aws, "get-subscription-attributes", "--subscription-arn", subscription))
    assert attributes["Attributes"]["FilterPolicy"] == '{"kind": ["order"]}'
    assert subscription in [
        s["SubscriptionArn"] for s in ok(sns(aws, "list-subscriptions"))["Subscriptions"]
    ]
    batch = ok(
        sns(
            aws,
            "publish-batch",
            "--topic-arn",
            topic,
            "--publish-batch-request-entries",
            json.dumps(
                [
                    {
                        "Id": "a",
                        "Message": "order 1",
                        "MessageAttributes": {
                            "kind": {"DataType": "String", "StringValue": "order"}
                        },
                    },
                    {"Id": "b", "Message": "refund 1"},
                ]
            ),
        )
    )
    assert sorted(e["Id"] for e in batch["Successful"]) == ["a", "b"] and batch["Failed"] == []
    received = ok(aws("receive-message", "--queue-url", queue_url, "--wait-time-seconds", "2"))
    assert len(received["Messages"]) == 1  # the refund did not pass the filter
    assert json.loads(received["Messages"][0]["Body"])["Message"] == "order 1"
    numbers = ok(sns(aws, "list-phone-numbers-opted-out"))
    assert "phoneNumbers" in numbers
    ok(sns(aws, "opt-in-phone-number", "--phone-number", "+15550100"))
