"""AWS's strict rules: a topic delivers to a queue only when the queue's access policy
lets it (sns.md §7.4; sqs.md §10), and the switch that relaxes them."""

from __future__ import annotations

import json

import pytest

from broker import sns, sqs, workspaces
from broker.models import Event
from broker.sqs import permissions
from tests.factories import make_queue

BASE_URL = "http://testserver"


def publish(topic, clock):
    return sns.publish(topic, message="hello", base_url=BASE_URL, clock=clock)


def kinds() -> list[str]:
    return list(
        Event.objects.filter(kind__startswith="subscription.").values_list("kind", flat=True)
    )


@pytest.fixture
def topic(workspace, clock):
    assert workspace.aws_strict  # a browser workspace starts strict
    return sns.create_topic(workspace, "orders", clock=clock)


def test_a_queue_whose_policy_does_not_allow_the_topic_gets_nothing(workspace, clock, topic):
    queue = make_queue(workspace, "billing", clock=clock)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    publish(topic, clock)
    assert sqs.receive_messages(queue, max_number=1, clock=clock) == []
    failed = Event.objects.get(kind="subscription.delivery_failed").data
    assert (failed["error"], failed["retriable"]) == ("AccessDenied", False)
    assert "does not let sns.amazonaws.com send it messages" in failed["reason"]
    assert "subscription.discarded" in kinds()


def test_the_statement_the_console_adds_lets_the_topic_send(workspace, clock, topic):
    queue = make_queue(workspace, "billing", clock=clock)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    assert permissions.allow_topic(queue, topic.arn, clock=clock) is True
    assert permissions.allow_topic(queue, topic.arn, clock=clock) is False  # already there
    statement = json.loads(queue.policy)["Statement"][0]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic.arn}}
    publish(topic, clock)
    assert len(sqs.receive_messages(queue, max_number=1, clock=clock)) == 1


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_ANY = {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}


@pytest.mark.parametrize(
    ("document", "allowed"),
    [
        (policy(ALLOW_ANY), True),
        (policy({**ALLOW_ANY, "Principal": {"AWS": "*"}, "Action": "SQS:*"}), True),
        (policy({**ALLOW_ANY, "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*"}}}), True),
        (
            policy({**ALLOW_ANY, "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:x"}}}),
            False,
        ),
        (policy({**ALLOW_ANY, "Action": "sqs:ReceiveMessage"}), False),
        (policy({**ALLOW_ANY, "Principal": {"Service": "lambda.amazonaws.com"}}), False),
        (policy(ALLOW_ANY, {**ALLOW_ANY, "Effect": "Deny"}), False),
        (policy({**ALLOW_ANY, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}), False),
    ],
)
def test_a_queue_policy_is_read_as_aws_reads_it(workspace, clock, topic, document, allowed):
    queue = make_queue(workspace, "billing", clock=clock, Policy=document)
    assert (
        permissions.allows_service(
            queue, permissions.SNS_SERVICE, "sqs:SendMessage", source_arn=topic.arn
        )
        is allowed
    )


def test_relaxed_rules_deliver_to_any_queue_and_forget_deleted_names(workspace, clock, topic):
    workspaces.set_strict(workspace, False, clock=clock)
    queue = make_queue(workspace, "billing", clock=clock)
    sns.subscribe(topic, "sqs", queue.arn, clock=clock)
    topic.workspace.refresh_from_db()
    publish(topic, clock)
    assert len(sqs.receive_messages(queue, max_number=1, clock=clock)) == 1
    sqs.delete_queue(queue, clock=clock)
    assert make_queue(workspace, "billing", clock=clock).name == "billing"
    assert Event.objects.filter(kind="account.strictness_changed").count() == 1


def test_the_dead_letter_queue_needs_the_policy_too(workspace, clock, topic):
    queue = make_queue(workspace, "gone", clock=clock)
    dlq = make_queue(workspace, "gone-dlq", clock=clock)
    sns.subscribe(
        topic,
        "sqs",
        queue.arn,
        attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq.arn})},
        clock=clock,
    )
    publish(topic, clock)
    discarded = Event.objects.get(kind="subscription.discarded").data
    assert "its dead-letter queue gone-dlq refused it" in discarded["reason"]
    permissions.allow_topic(dlq, topic.arn, clock=clock)
    publish(topic, clock)
    assert Event.objects.filter(kind="subscription.dead_lettered").count() == 1


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        ({**ALLOW_ANY, "Condition": {"ArnEquals": "not a map"}}, False),
        ({**ALLOW_ANY, "Condition": {"NumericLessThan": {"aws:EpochTime": 1}}}, False),
    ],
)
def test_a_policy_this_playground_cannot_read_refuses_rather_than_crashes(
    workspace, clock, topic, statement, allowed
):
    queue = make_queue(workspace, "billing", clock=clock, Policy=policy(statement))
    assert (
        permissions.allows_service(
            queue, permissions.SNS_SERVICE, "sqs:SendMessage", source_arn=topic.arn
        )
        is allowed
    )


def test_a_deny_with_a_condition_operator_not_read_still_denies(workspace, clock, topic):
    deny = {
        **ALLOW_ANY,
        "Effect": "Deny",
        "Condition": {"StringNotEquals": {"aws:SourceAccount": "999999999999"}},
    }
    queue = make_queue(workspace, "billing", clock=clock, Policy=policy(ALLOW_ANY, deny))
    assert not permissions.allows_service(
        queue, permissions.SNS_SERVICE, "sqs:SendMessage", source_arn=topic.arn
    )
