"""SNS topics through real boto3 and the AWS CLI (query protocol, 2010-03-31)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from tests.broker.api import wire
from tests.broker.api.conftest import AWS, service_client
from tests.broker.api.test_sqs_boto3 import error_of


@pytest.fixture(scope="module")
def sns(live_server_url):
    return service_client("sns", live_server_url)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_a_new_topic_has_the_attributes_aws_gives_it(sns):
    name = unique()
    arn = sns.create_topic(Name=name)["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert {k: attributes[k] for k in ("TopicArn", "Owner", "DisplayName")} == {
        "TopicArn": arn,
        "Owner": "000000000000",
        "DisplayName": "",
    }
    assert [attributes[f"Subscriptions{s}"] for s in ("Confirmed", "Pending", "Deleted")] == [
        "0",
        "0",
        "0",
    ]
    policy = json.loads(attributes["Policy"])
    assert policy["Statement"][0]["Resource"] == arn
    assert "SNS:Publish" in policy["Statement"][0]["Action"]
    retry = json.loads(attributes["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]
    assert (retry["numRetries"], retry["backoffFunction"]) == (3, "linear")
    assert "FifoTopic" not in attributes


def test_creating_a_topic_again_is_idempotent_unless_attributes_or_tags_differ(sns):
    name = unique()
    first = sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"]
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"] == first
    error = error_of(sns.create_topic, Name=name, Attributes={"DisplayName": "Other"})
    assert (error["Code"], error["status"]) == ("InvalidParameter", 400)
    assert error["Message"] == (
        "Invalid parameter: Attributes Reason: Topic already exists with different attributes"
    )
    error = error_of(sns.create_topic, Name=name, Tags=[{"Key": "team", "Value": "x"}])
    assert (
        error["Message"]
        == "Invalid parameter: Tags Reason: Topic already exists with different tags"
    )


def test_names_and_fifo_topics_follow_the_rules(sns):
    for bad in ("", "has space", "dot.ted", "x" * 257):
        error = error_of(sns.create_topic, Name=bad) if bad else None
        if error:
            assert (error["Code"], error["Message"]) == (
                "InvalidParameter",
                "Invalid parameter: Topic Name",
            )
    error = error_of(sns.create_topic, Name=unique(), Attributes={"FifoTopic": "true"})
    assert error["Message"].startswith("Invalid parameter: Fifo Topic names must end with .fifo")
    arn = sns.create_topic(Name=unique() + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attributes["FifoTopic"], attributes["ContentBasedDeduplication"]) == ("true", "false")
    standard = sns.create_topic(Name=unique())["TopicArn"]
    error = error_of(
        sns.set_topic_attributes,
        TopicArn=standard,
        AttributeName="ContentBasedDeduplication",
        AttributeValue="true",
    )
    assert error["Code"] == "InvalidParameter"


def test_set_topic_attributes_checks_each_value(sns):
    arn = sns.create_topic(Name=unique())["TopicArn"]
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Alerts")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attributes["DisplayName"], attributes["SignatureVersion"]) == ("Alerts", "2")
    for name, value in (("Nonsense", "x"), ("SignatureVersion", "3"), ("Policy", "{not json")):
        error = error_of(
            sns.set_topic_attributes, TopicArn=arn, AttributeName=name, AttributeValue=value
        )
        assert (error["Code"], error["status"]) == ("InvalidParameter", 400), name
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SignatureVersion"] == "2"


def test_a_deleted_topic_is_not_found_and_deleting_it_again_is_no_error(sns):
    arn = sns.create_topic(Name=unique())["TopicArn"]
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)
    error = error_of(sns.get_topic_attributes, TopicArn=arn)
    assert (error["Code"], error["status"], error["Message"]) == (
        "NotFound",
        404,
        "Topic does not exist",
    )
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_topic_attributes(TopicArn=arn)
    error = error_of(sns.get_topic_attributes, TopicArn="not-an-arn")
    assert (
        error["Message"]
        == "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1"
    )
    assert arn not in [
        t["TopicArn"]
        for t in sns.get_paginator("list_topics").paginate().build_full_result()["Topics"]
    ]


def test_list_topics_pages_by_one_hundred(live_server_url):
    key = f"{uuid.uuid4().int % 10**12:012d}"  # an account of its own
    client = service_client("sns", live_server_url, key=key)
    arns = {client.create_topic(Name=f"page-{i:03d}")["TopicArn"] for i in range(105)}
    first = client.list_topics()
    assert len(first["Topics"]) == 100 and first["NextToken"]
    second = client.list_topics(NextToken=first["NextToken"])
    assert len(second["Topics"]) == 5 and "NextToken" not in second
    assert {t["TopicArn"] for t in first["Topics"] + second["Topics"]} == arns


def test_tags_are_added_listed_and_removed(sns):
    arn = sns.create_topic(Name=unique(), Tags=[{"Key": "team", "Value": "orders"}])["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "dev"), ("team", "orders")]
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    error = error_of(
        sns.tag_resource,
        ResourceArn=arn,
        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)],
    )
    assert (error["Code"], error["Message"]) == (
        "TagLimitExceeded",
        "Can't add more than 50 tags to a topic.",
    )
    error = error_of(
        sns.tag_resource,
        ResourceArn=arn,
        Tags=[{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
    )
    assert error["Message"] == "Invalid parameter: Duplicated keys are not allowed."
    missing = arn + "-gone"
    error = error_of(sns.list_tags_for_resource, ResourceArn=missing)
    assert (error["Code"], error["status"]) == ("ResourceNotFound", 404)


def test_permissions_are_statements_of_the_topic_policy(sns):
    arn = sns.create_topic(Name=unique())["TopicArn"]
    sns.add_permission(
        TopicArn=arn, Label="partners", AWSAccountId=["111122223333"], ActionName=["Publish"]
    )
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])[
        "Statement"
    ]
    added = next(s for s in statements if s["Sid"] == "partners")
    assert added["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root"]}
    assert added["Action"] == ["SNS:Publish"]
    error = error_of(
        sns.add_permission,
        TopicArn=arn,
        Label="partners",
        AWSAccountId=["111122223333"],
        ActionName=["Publish"],
    )
    assert error["Message"] == "Invalid parameter: Statement already exists"
    error = error_of(
        sns.add_permission, TopicArn=arn, Label="x", AWSAccountId=["1"], ActionName=["Fly"]
    )
    assert error["Message"] == "Invalid parameter: Policy statement action out of service scope!"
    sns.remove_permission(TopicArn=arn, Label="partners")
    policy = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["__default_statement_ID"]


def test_the_cli_creates_lists_and_deletes_topics(live_server_url):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }

    def sns_cli(*args):
        command = [AWS, "--endpoint-url", live_server_url, "--output", "json", "sns", *args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout) if result.stdout.strip() else {}

    name = unique("cli")
    arn = sns_cli("create-topic", "--name", name, "--tags", "Key=team,Value=cli")["TopicArn"]
    assert arn in [t["TopicArn"] for t in sns_cli("list-topics")["Topics"]]
    assert sns_cli("get-topic-attributes", "--topic-arn", arn)["Attributes"]["TopicArn"] == arn
    sns_cli("delete-topic", "--topic-arn", arn)
    assert arn not in [t["TopicArn"] for t in sns_cli("list-topics")["Topics"]]


def test_the_longest_topic_name_works_everywhere(sns):
    name = "n" * 256
    arn = sns.create_topic(Name=name)["TopicArn"]
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Long")
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    sns.delete_topic(TopicArn=arn)


def test_malformed_attributes_and_policies_are_invalid_parameters(sns, live_server_url):
    arn = sns.create_topic(Name=unique())["TopicArn"]
    for value in ("{}", "[]", '{"Statement": {"Sid": "x"}}'):
        error = error_of(
            sns.set_topic_attributes, TopicArn=arn, AttributeName="Policy", AttributeValue=value
        )
        assert (error["Code"], error["status"]) == ("InvalidParameter", 400), value
    for body in (
        {"Action": "CreateTopic", "Name": unique(), "Attributes": "x"},
        {"Action": "CreateTopic", "Name": unique(), "Tags.member.1": "x"},
        {"Action": "CreateTopic", "Name": unique(), "Attributes.entry.1.key.sub": "x"},
    ):
        status, _headers, text = wire.query(
            live_server_url, {"Version": "2010-03-31", **body}, service="sns"
        )
        assert status == 400, text
        assert "<Code>InvalidParameter</Code>" in text
