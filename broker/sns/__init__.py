"""Amazon SNS (sns.md): topics; subscriptions to queues, functions, HTTP/S endpoints,
email and SMS inboxes, with confirmation and filter policies; Publish with signed
envelopes; delivery retries under each protocol's policy, dead-letter queues.

One module per concept, as in `broker/sqs/`; callers import the package (`from broker
import sns`) and call `sns.create_topic(...)`.
"""

from __future__ import annotations

from broker.sns.inboxes import (
    get_sms_attributes,
    is_opted_out,
    list_opted_out,
    set_opted_out,
    set_sms_attributes,
)
from broker.sns.publish import BatchPublished, Published, publish, publish_batch, publish_sms
from broker.sns.subscriptions import (
    confirm_subscription,
    get_subscription,
    get_subscription_attributes,
    list_subscriptions,
    list_subscriptions_by_topic,
    set_subscription_attributes,
    subscribe,
    unsubscribe,
)
from broker.sns.topics import (
    add_permission,
    create_topic,
    delete_topic,
    get_topic,
    get_topic_attributes,
    list_tags_for_resource,
    list_topics,
    remove_permission,
    set_topic_attributes,
    tag_resource,
    untag_resource,
)

__all__ = [
    "confirm_subscription",
    "get_sms_attributes",
    "is_opted_out",
    "list_opted_out",
    "publish_sms",
    "set_opted_out",
    "set_sms_attributes",
    "BatchPublished",
    "Published",
    "add_permission",
    "create_topic",
    "delete_topic",
    "get_topic",
    "get_topic_attributes",
    "list_tags_for_resource",
    "list_topics",
    "remove_permission",
    "set_topic_attributes",
    "tag_resource",
    "untag_resource",
    "get_subscription",
    "get_subscription_attributes",
    "list_subscriptions",
    "list_subscriptions_by_topic",
    "publish",
    "publish_batch",
    "set_subscription_attributes",
    "subscribe",
    "unsubscribe",
]
