"""Regions are separate namespaces, as on AWS: an account's queue made through
us-west-1 is not its us-east-1 queue of the same name, and URLs and ARNs carry the
region of the request. SNS alone reaches across regions (to a queue or a function of
the same account); a redrive policy or a trigger does not.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.auth import SigV2Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.broker.api.conftest import make_client, open_learner_workspace, service_client
from tests.broker.api.test_lambda_api import zipped

WEST, EAST, IRELAND = "us-west-1", "us-east-1", "eu-west-1"


@pytest.fixture
def account() -> str:
    """A local-convention account of its own (its id is the access key; secret `test`)."""
    return f"7{uuid.uuid4().int % 10**11:011d}"


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"]


def test_a_queue_made_in_one_region_is_not_the_queue_of_that_name_in_another(
    live_server_url, account
):
    west = make_client(live_server_url, key=account, region=WEST)
    east = make_client(live_server_url, key=account, region=EAST)
    west_url = west.create_queue(QueueName="orders")["QueueUrl"]

    assert (
        code_of(east.get_queue_url, QueueName="orders") == "AWS.SimpleQueueService.NonExistentQueue"
    )
    assert east.list_queues().get("QueueUrls", []) == []

    east_url = east.create_queue(QueueName="orders")["QueueUrl"]
    west.send_message(QueueUrl=west_url, MessageBody="for the west")
    assert east.receive_message(QueueUrl=east_url).get("Messages", []) == []
    assert west.receive_message(QueueUrl=west_url)["Messages"][0]["Body"] == "for the west"
    assert west.list_queues()["QueueUrls"] == [west_url]
    assert east.list_queues()["QueueUrls"] == [east_url]


def test_urls_and_arns_carry_the_region_of_the_request(live_server_url, account):
    west = make_client(live_server_url, key=account, region=WEST)
    url = west.create_queue(QueueName="orders")["QueueUrl"]
    assert url == f"{live_server_url}/queue/{WEST}/{account}/orders"
    assert west.get_queue_url(QueueName="orders")["QueueUrl"] == url
    arn = west.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    assert arn["QueueArn"] == f"arn:aws:sqs:{WEST}:{account}:orders"

    east_url = make_client(live_server_url, key=account).create_queue(QueueName="orders")
    assert east_url["QueueUrl"] == f"{live_server_url}/{account}/orders"

    sns = service_client("sns", live_server_url, key=account, region=IRELAND)
    topic = sns.create_topic(Name="news")["TopicArn"]
    assert topic == f"arn:aws:sns:{IRELAND}:{account}:news"
    assert sns.list_topics()["Topics"] == [{"TopicArn": topic}]
    assert service_client("sns", live_server_url, key=account).list_topics()["Topics"] == []

    kms = service_client("kms", live_server_url, key=account, region=IRELAND)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    assert key_arn.startswith(f"arn:aws:kms:{IRELAND}:{account}:key/")
    east_kms = service_client("kms", live_server_url, key=account)
    assert code_of(east_kms.describe_key, KeyId=key_arn) == "NotFoundException"

    lam = service_client("lambda", live_server_url, key=account, region=WEST)
    function = lam.create_function(
        FunctionName="worker",
        Runtime="python3.12",
        Role=f"arn:aws:iam::{account}:role/worker",
        Handler="index.handler",
        Code={"ZipFile": zipped()},
    )
    assert function["FunctionArn"] == f"arn:aws:lambda:{WEST}:{account}:function:worker"
    east_lambda = service_client("lambda", live_server_url, key=account)
    assert code_of(east_lambda.get_function, FunctionName="worker") == "ResourceNotFoundException"


def test_a_queue_url_of_another_region_names_no_queue_here(live_server_url, account):
    west_url = make_client(live_server_url, key=account, region=WEST).create_queue(
        QueueName="orders"
    )["QueueUrl"]
    east = make_client(live_server_url, key=account)
    east.create_queue(QueueName="orders")
    assert (
        code_of(east.send_message, QueueUrl=west_url, MessageBody="lost?")
        == "AWS.SimpleQueueService.NonExistentQueue"
    )


def test_an_old_sdk_posts_to_a_queue_url_of_another_region(
    live_server_url, account, query_model_dir
):
    west = make_client(live_server_url, key=account, region=WEST)
    url = west.create_queue(QueueName="orders")["QueueUrl"]
    # botocore 1.34's query protocol, the client's endpoint the queue URL itself.
    old = make_client(url, key=account, region=WEST, data_path=query_model_dir)
    old.send_message(QueueUrl=url, MessageBody="posted to the queue's own URL")
    assert west.receive_message(QueueUrl=url)["Messages"][0]["Body"] == (
        "posted to the queue's own URL"
    )


def test_a_dead_letter_queue_of_another_region_does_not_exist(live_server_url, account):
    west = make_client(live_server_url, key=account, region=WEST)
    west_dlq = west.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = west.get_queue_attributes(QueueUrl=west_dlq, AttributeNames=["QueueArn"])
    east = make_client(live_server_url, key=account)
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
    with pytest.raises(ClientError) as caught:
        east.create_queue(QueueName="work", Attributes={"RedrivePolicy": json.dumps(policy)})
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Dead letter target does not exist" in caught.value.response["Error"]["Message"]
    assert east.list_queues().get("QueueUrls", []) == []


def test_sns_delivers_to_a_queue_of_another_region(live_server_url, account):
    ireland = make_client(live_server_url, key=account, region=IRELAND)
    url = ireland.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = ireland.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    sns = service_client("sns", live_server_url, key=account)
    topic = sns.create_topic(Name="news")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    sns.publish(TopicArn=topic, Message="across the Atlantic")
    received = ireland.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    assert [m["Body"] for m in received] == ["across the Atlantic"]

    # The topic's page names the queue's region and links to its page there.
    with urllib.request.urlopen(f"{live_server_url}/", timeout=10) as response:
        home = response.read().decode()
    slugs = {
        region: home.split(f">Account {account} · {region}<")[0].rsplit("/w/", 1)[1].split("/")[0]
        for region in (EAST, IRELAND)
    }
    with urllib.request.urlopen(f"{live_server_url}/w/{slugs[EAST]}/topics/news/") as response:
        topic_page = response.read().decode()
    assert f"queue inbox in {IRELAND}" in topic_page
    assert f'href="/w/{slugs[IRELAND]}/queues/inbox/"' in topic_page


def test_a_learner_key_reaches_its_account_in_every_region(live_server_url):
    learner = open_learner_workspace(live_server_url)
    west = make_client(live_server_url, key=learner.access_key, secret=learner.secret, region=WEST)
    url = west.create_queue(QueueName="orders")["QueueUrl"]
    assert url == f"{live_server_url}/queue/{WEST}/{learner.account_id}/orders"
    east = make_client(live_server_url, key=learner.access_key, secret=learner.secret)
    assert east.list_queues().get("QueueUrls", []) == []

    # The learner's page links to the new region, whose page the same browser may open.
    with learner.browser.open(learner.url) as response:
        page = response.read().decode()
    assert 'id="regions"' in page and f">{WEST}</a>" in page
    west_path = page.split(f">{WEST}</a>")[0].rsplit('href="', 1)[1].split('"')[0]
    with learner.browser.open(live_server_url + west_path) as response:
        west_page = response.read().decode()
    assert 'id="cred-region">us-west-1<' in west_page
    assert f'id="cred-access-key">{learner.access_key}<' in west_page
    assert "orders" in west_page

    # Another browser may not.
    stranger = open_learner_workspace(live_server_url)
    with pytest.raises(urllib.error.HTTPError) as refused:
        stranger.browser.open(live_server_url + west_path)
    assert refused.value.code == 404


def test_a_refused_call_for_a_new_region_creates_nothing(live_server_url):
    learner = open_learner_workspace(live_server_url)
    wrong = make_client(live_server_url, key=learner.access_key, secret="wrong", region=WEST)
    assert code_of(wrong.list_queues) == "SignatureDoesNotMatch"
    with learner.browser.open(learner.url) as response:
        assert 'id="regions"' not in response.read().decode()


def test_the_local_convention_does_not_open_a_browsers_account(live_server_url):
    learner = open_learner_workspace(live_server_url)
    for region in (EAST, WEST):
        local = make_client(live_server_url, key=learner.account_id, region=region)
        assert code_of(local.list_queues) == "InvalidClientTokenId"


def test_the_developer_endpoint_peeks_at_a_queue_of_another_region(live_server_url, account):
    west = make_client(live_server_url, key=account, region=WEST)
    url = west.create_queue(QueueName="orders")["QueueUrl"]
    west.send_message(QueueUrl=url, MessageBody="peek at me")
    request = urllib.request.Request(
        f"{live_server_url}/_aws/sqs/messages/{WEST}/{account}/orders",
        headers={"Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document = json.loads(response.read())
    message = document["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"]
    assert message["Body"] == "peek at me"
    with urllib.request.urlopen(
        f"{live_server_url}/_aws/sqs/messages?QueueUrl={url}", timeout=10
    ) as response:
        assert b"peek at me" in response.read()


def test_a_region_aws_does_not_have_makes_no_workspace(live_server_url, account):
    for region in ("us-abc-1", "us-" + "x" * 40 + "-1"):
        made_up = make_client(live_server_url, key=account, region=region)
        assert code_of(made_up.list_queues) == "SignatureDoesNotMatch"
    with urllib.request.urlopen(f"{live_server_url}/", timeout=10) as home:
        assert f"Account {account}" not in home.read().decode()


def test_an_old_sigv2_client_reaches_the_region_its_queue_url_names(live_server_url, account):
    west = make_client(live_server_url, key=account, region=WEST)
    # SSE queues take SigV4 only, as on AWS.
    plain = {"SqsManagedSseEnabled": "false"}
    url = west.create_queue(QueueName="orders", Attributes=plain)["QueueUrl"]
    request = AWSRequest(
        method="POST",
        url=url,
        data={"Action": "SendMessage", "MessageBody": "signed the old way"},
    )
    SigV2Auth(Credentials(account, "test")).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(
        url, data=prepared.body.encode(), headers=dict(prepared.headers.items()), method="POST"
    )
    with urllib.request.urlopen(sent, timeout=10) as response:
        assert response.status == 200
    assert west.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "signed the old way"
    east = make_client(live_server_url, key=account)
    assert east.list_queues().get("QueueUrls", []) == []
