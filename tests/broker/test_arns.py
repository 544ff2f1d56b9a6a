"""ARNs and queue URLs, built and read in one place."""

from __future__ import annotations

from types import SimpleNamespace

from broker import arns

WORKSPACE = SimpleNamespace(region="eu-west-1", account_id="123456789012")


def test_an_arn_reads_back_into_its_parts_with_the_colons_of_its_resource():
    arn = arns.event_source_mapping(WORKSPACE, "a1b2")
    assert arn == "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:a1b2"
    assert arns.parse(arn) == arns.Arn(
        "lambda", "eu-west-1", "123456789012", "event-source-mapping:a1b2"
    )


def test_what_is_not_an_arn_of_this_partition_parses_to_none():
    for text in ("", "orders", "arn:aws:sqs:eu-west-1:123456789012", "arn:aws-cn:sqs:r:1:q"):
        assert arns.parse(text) is None


def test_each_resource_kind_has_the_arn_aws_gives_it():
    assert arns.queue(WORKSPACE, "orders") == "arn:aws:sqs:eu-west-1:123456789012:orders"
    assert arns.function(WORKSPACE, "f") == "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert arns.kms_key(WORKSPACE, "k") == "arn:aws:kms:eu-west-1:123456789012:key/k"
    assert arns.kms_alias(WORKSPACE, "alias/a") == "arn:aws:kms:eu-west-1:123456789012:alias/a"
    assert arns.account_root("123456789012") == "arn:aws:iam::123456789012:root"
    assert arns.queue_name("arn:aws:sqs:eu-west-1:123456789012:orders") == "orders"


def test_a_queue_url_is_read_from_its_last_two_path_segments():
    url = arns.queue_url("http://127.0.0.1:8000/", "123456789012", "orders")
    assert url == "http://127.0.0.1:8000/123456789012/orders"
    assert arns.queue_url_parts(url) == ("123456789012", "orders")
    assert arns.queue_url_parts("/queue/orders?x=1") == ("queue", "orders")
    assert arns.queue_url_parts("http://127.0.0.1:8000/") is None
