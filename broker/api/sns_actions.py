"""The SNS actions of the query protocol: parameters in, `broker/sns/` called, results out.

So far the topic actions (sns.md §9): CreateTopic, DeleteTopic, ListTopics,
Get/SetTopicAttributes, Tag/UntagResource, ListTagsForResource, Add/RemovePermission.
"""

from __future__ import annotations

from broker import errors, sns
from broker.api.actions import Call


def _required(params: dict, name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise errors.SnsInvalidParameter(f"Invalid parameter: {name}")
    return str(value)


def _list(params: dict, name: str) -> list:
    value = params.get(name) or []
    if not isinstance(value, list):
        raise errors.SnsInvalidParameter(f"Invalid parameter: {name}")
    return value


def _topic(call: Call, params: dict):
    return sns.get_topic(call.workspace, _required(params, "TopicArn"))


def create_topic(call: Call, params: dict) -> dict:
    topic = sns.create_topic(
        call.workspace,
        _required(params, "Name"),
        attributes=params.get("Attributes") or {},
        tags=_list(params, "Tags") if "Tags" in params else None,
        clock=call.clock,
    )
    return {"TopicArn": topic.arn}


def delete_topic(call: Call, params: dict) -> dict:
    sns.delete_topic(call.workspace, _required(params, "TopicArn"), clock=call.clock)
    return {}


def list_topics(call: Call, params: dict) -> dict:
    topics, token = sns.list_topics(call.workspace, next_token=params.get("NextToken") or "")
    return {"Topics": [{"TopicArn": t.arn} for t in topics], "NextToken": token or None}


def get_topic_attributes(call: Call, params: dict) -> dict:
    return {"Attributes": sns.get_topic_attributes(_topic(call, params))}


def set_topic_attributes(call: Call, params: dict) -> dict:
    sns.set_topic_attributes(
        _topic(call, params),
        _required(params, "AttributeName"),
        str(params.get("AttributeValue") or ""),
        clock=call.clock,
    )
    return {}


def tag_resource(call: Call, params: dict) -> dict:
    sns.tag_resource(
        call.workspace,
        _required(params, "ResourceArn"),
        _list(params, "Tags"),
        clock=call.clock,
    )
    return {}


def untag_resource(call: Call, params: dict) -> dict:
    sns.untag_resource(
        call.workspace,
        _required(params, "ResourceArn"),
        [str(k) for k in _list(params, "TagKeys")],
        clock=call.clock,
    )
    return {}


def list_tags_for_resource(call: Call, params: dict) -> dict:
    tags = sns.list_tags_for_resource(call.workspace, _required(params, "ResourceArn"))
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def add_permission(call: Call, params: dict) -> dict:
    sns.add_permission(
        _topic(call, params),
        _required(params, "Label"),
        [str(a) for a in _list(params, "AWSAccountId")],
        [str(a) for a in _list(params, "ActionName")],
        clock=call.clock,
    )
    return {}


def remove_permission(call: Call, params: dict) -> dict:
    sns.remove_permission(_topic(call, params), _required(params, "Label"), clock=call.clock)
    return {}


ACTIONS = {
    "CreateTopic": create_topic,
    "DeleteTopic": delete_topic,
    "ListTopics": list_topics,
    "GetTopicAttributes": get_topic_attributes,
    "SetTopicAttributes": set_topic_attributes,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
    "AddPermission": add_permission,
    "RemovePermission": remove_permission,
}
