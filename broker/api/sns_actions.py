"""The SNS actions of the query protocol: parameters in, `broker/sns/` called, results out.

So far (sns.md §9): the topic actions (CreateTopic, DeleteTopic, ListTopics,
Get/SetTopicAttributes, Tag/UntagResource, ListTagsForResource, Add/RemovePermission),
the subscription actions for SQS endpoints, Publish and PublishBatch.
"""

from __future__ import annotations

import base64
import binascii

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
        str(params.get("Name") or ""),
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


def _flag(params: dict, name: str) -> bool:
    return str(params.get(name) or "").lower() == "true"


def subscribe(call: Call, params: dict) -> dict:
    subscription = sns.subscribe(
        _topic(call, params),
        _required(params, "Protocol"),
        str(params.get("Endpoint") or ""),
        attributes=params.get("Attributes") or {},
        base_url=call.base_url,
        clock=call.clock,
    )
    if not subscription.confirmed and not _flag(params, "ReturnSubscriptionArn"):
        return {"SubscriptionArn": "pending confirmation"}
    return {"SubscriptionArn": subscription.arn}


def confirm_subscription(call: Call, params: dict) -> dict:
    subscription = sns.confirm_subscription(
        _topic(call, params),
        _required(params, "Token"),
        authenticated=True,
        authenticate_on_unsubscribe=_flag(params, "AuthenticateOnUnsubscribe"),
        clock=call.clock,
    )
    return {"SubscriptionArn": subscription.arn}


def unsubscribe(call: Call, params: dict) -> dict:
    sns.unsubscribe(
        call.workspace,
        _required(params, "SubscriptionArn"),
        base_url=call.base_url,
        clock=call.clock,
    )
    return {}


def _listed(page: list, token: str) -> dict:
    return {
        "Subscriptions": [
            {
                "SubscriptionArn": s.arn if s.confirmed else "PendingConfirmation",
                "Owner": s.topic.workspace.account_id,
                "Protocol": s.protocol,
                "Endpoint": s.endpoint,
                "TopicArn": s.topic.arn,
            }
            for s in page
        ],
        "NextToken": token or None,
    }


def list_subscriptions(call: Call, params: dict) -> dict:
    return _listed(
        *sns.list_subscriptions(call.workspace, next_token=params.get("NextToken") or "")
    )


def list_subscriptions_by_topic(call: Call, params: dict) -> dict:
    return _listed(
        *sns.list_subscriptions_by_topic(
            _topic(call, params), next_token=params.get("NextToken") or ""
        )
    )


def _subscription(call: Call, params: dict):
    return sns.get_subscription(call.workspace, _required(params, "SubscriptionArn"))


def get_subscription_attributes(call: Call, params: dict) -> dict:
    return {"Attributes": sns.get_subscription_attributes(_subscription(call, params))}


def set_subscription_attributes(call: Call, params: dict) -> dict:
    sns.set_subscription_attributes(
        _subscription(call, params),
        _required(params, "AttributeName"),
        str(params.get("AttributeValue") or ""),
        clock=call.clock,
    )
    return {}


def publish(call: Call, params: dict) -> dict:
    if params.get("PhoneNumber"):
        if params.get("TopicArn") or params.get("TargetArn"):
            raise errors.SnsInvalidParameter(
                "Invalid parameter: PhoneNumber Reason: give a TopicArn, a TargetArn or a "
                "PhoneNumber, not several"
            )
        published = sns.publish_sms(
            call.workspace,
            str(params["PhoneNumber"]),
            message=str(params.get("Message") or ""),
            base_url=call.base_url,
            clock=call.clock,
        )
        return {"MessageId": published.message_id}
    arn = params.get("TopicArn") or params.get("TargetArn")
    if not arn:
        raise errors.SnsInvalidParameter(
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
        )
    topic = sns.get_topic(call.workspace, str(arn))
    subject = params.get("Subject")
    published = sns.publish(
        topic,
        message=str(params.get("Message") or ""),
        subject=None if subject is None else str(subject),
        structure=params.get("MessageStructure") or None,
        attributes=_message_attributes(params.get("MessageAttributes") or {}),
        group_id=params.get("MessageGroupId") or None,
        deduplication_id=params.get("MessageDeduplicationId") or None,
        base_url=call.base_url,
        clock=call.clock,
    )
    result = {"MessageId": published.message_id}
    if published.sequence_number is not None:
        result["SequenceNumber"] = published.sequence_number
    return result


def publish_batch(call: Call, params: dict) -> dict:
    entries = params.get("PublishBatchRequestEntries") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise errors.SnsInvalidParameter("Invalid parameter: PublishBatchRequestEntries")
    result = sns.publish_batch(
        _topic(call, params),
        [
            {**e, "MessageAttributes": _message_attributes(e.get("MessageAttributes") or {})}
            for e in entries
        ],
        base_url=call.base_url,
        clock=call.clock,
    )
    return {
        "Successful": [
            {
                "Id": entry_id,
                "MessageId": published.message_id,
                **(
                    {"SequenceNumber": published.sequence_number}
                    if published.sequence_number
                    else {}
                ),
            }
            for entry_id, published in result.successful
        ],
        "Failed": [
            {
                "Id": entry_id,
                "Code": error.wire_query_code,
                "Message": error.message,
                "SenderFault": error.sender_fault,
            }
            for entry_id, error in result.failed
        ],
    }


def _message_attributes(raw: dict) -> dict:
    """The wire's attributes with BinaryValue decoded from base64 (a bad one refused)."""
    if not isinstance(raw, dict):
        raise errors.SnsInvalidParameter("Invalid parameter: MessageAttributes")
    decoded = {}
    for name, value in raw.items():
        value = dict(value) if isinstance(value, dict) else {}
        if "BinaryValue" in value:
            try:
                value["BinaryValue"] = base64.b64decode(str(value["BinaryValue"]), validate=True)
            except (ValueError, binascii.Error):
                raise errors.SnsParameterValueInvalid(
                    f"The message attribute '{name}' with type 'Binary' must be base64."
                ) from None
        decoded[name] = value
    return decoded


def check_if_phone_number_is_opted_out(call: Call, params: dict) -> dict:
    return {"isOptedOut": sns.is_opted_out(call.workspace, _required(params, "phoneNumber"))}


def list_phone_numbers_opted_out(call: Call, params: dict) -> dict:
    numbers, token = sns.list_opted_out(call.workspace, next_token=params.get("nextToken") or "")
    return {"phoneNumbers": numbers, "nextToken": token or None}


def opt_in_phone_number(call: Call, params: dict) -> dict:
    sns.set_opted_out(call.workspace, _required(params, "phoneNumber"), False, clock=call.clock)
    return {}


def get_sms_attributes(call: Call, params: dict) -> dict:
    names = params.get("attributes") or []
    if not isinstance(names, list):
        raise errors.SnsInvalidParameter("Invalid parameter: attributes")
    return {"attributes": sns.get_sms_attributes(call.workspace, [str(n) for n in names])}


def set_sms_attributes(call: Call, params: dict) -> dict:
    attributes = params.get("attributes")
    if not isinstance(attributes, dict):
        raise errors.SnsInvalidParameter(
            "Invalid parameter: attributes Reason: no value for required parameter"
        )
    sns.set_sms_attributes(call.workspace, attributes, clock=call.clock)
    return {}


ACTIONS = {
    "Subscribe": subscribe,
    "ConfirmSubscription": confirm_subscription,
    "CheckIfPhoneNumberIsOptedOut": check_if_phone_number_is_opted_out,
    "ListPhoneNumbersOptedOut": list_phone_numbers_opted_out,
    "OptInPhoneNumber": opt_in_phone_number,
    "GetSMSAttributes": get_sms_attributes,
    "SetSMSAttributes": set_sms_attributes,
    "Unsubscribe": unsubscribe,
    "ListSubscriptions": list_subscriptions,
    "ListSubscriptionsByTopic": list_subscriptions_by_topic,
    "GetSubscriptionAttributes": get_subscription_attributes,
    "SetSubscriptionAttributes": set_subscription_attributes,
    "Publish": publish,
    "PublishBatch": publish_batch,
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
