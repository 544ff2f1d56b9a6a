"""One endpoint, several services: each request finds its own, and what finds none gets
an AWS error in its client's protocol, never an HTML page."""

from __future__ import annotations

import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.broker.api import wire
from tests.broker.api.conftest import service_client
from tests.broker.api.test_sqs_query import xml_error


def test_a_json_target_of_no_service_here_is_unknown_operation(live_server_url):
    status, headers, body = wire.send(
        live_server_url,
        body="{}",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Route53.ListZones"},
        service="route53",
    )
    assert status == 400
    assert headers["Content-Type"].startswith("application/x-amz-json")
    assert json.loads(body)["__type"] == "UnknownOperationException"


def test_kms_answers_its_own_errors_with_its_own_json(kms):
    with pytest.raises(ClientError) as caught:
        kms.describe_key(KeyId="alias/nothing-here")
    error = caught.value.response
    assert error["Error"]["Code"] == "NotFoundException"
    assert "x-amzn-query-error" not in error["ResponseMetadata"]["HTTPHeaders"]
    assert error["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"


def test_an_operation_kms_does_not_have_is_unknown_operation(live_server_url):
    status, _headers, body = wire.send(
        live_server_url,
        body="{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "TrentService.ScheduleKeyDeletionTomorrow",
        },
        service="kms",
    )
    assert (status, json.loads(body)["__type"]) == (400, "UnknownOperationException")


def test_an_sqs_call_signed_for_another_service_is_refused(live_server_url):
    status, headers, body = wire.send(
        live_server_url,
        body="{}",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.ListQueues",
        },
        service="s3",
    )
    assert (status, headers["x-amzn-query-error"]) == (403, "SignatureDoesNotMatch;Sender")
    assert "Credential should be scoped to correct service: 'sqs'" in json.loads(body)["message"]


def test_a_query_call_signed_for_a_service_not_offered_gets_an_xml_error(live_server_url):
    status, headers, body = wire.query(
        live_server_url, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, service="sts"
    )
    assert status == 403
    assert headers["Content-Type"].startswith("text/xml")
    assert xml_error(body)[0] == "SignatureDoesNotMatch"
    assert "offers no 'sts' service" in body


def test_a_service_with_no_row_gets_a_json_error_from_its_rest_path(live_server_url):
    with pytest.raises(ClientError) as caught:
        service_client("apigateway", live_server_url).get_rest_apis()
    error = caught.value.response
    assert error["Error"]["Code"] == "UnknownOperationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "GET /restapis" in error["Error"]["Message"]


def test_a_lambda_operation_not_offered_gets_lambdas_json_error(live_server_url):
    with pytest.raises(ClientError) as caught:
        service_client("lambda", live_server_url).list_aliases(FunctionName="f")
    error = caught.value.response
    assert error["Error"]["Code"] == "UnknownOperationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (
        "No Lambda operation answers GET /2015-03-31/functions/f/aliases"
        in (error["Error"]["Message"])
    )


def test_a_browser_url_with_an_action_in_it_is_still_the_page(live_server_url):
    for headers in ({}, {"X-Amz-Target": "AmazonSQS.ListQueues"}):
        request = urllib.request.Request(
            f"{live_server_url}/healthz?Action=ListQueues", headers=headers
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert (response.status, response.read()) == (200, b"ok")
