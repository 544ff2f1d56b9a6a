"""Amazon SNS: topics, SQS subscriptions with filter policies, and Publish with signed
envelopes so far; the other protocols and delivery retries are the next slices of the
issue "SNS, complete" (sns.md).

One module per concept, as in `broker/sqs/`; callers import the package (`from broker
import sns`) and call `sns.create_topic(...)`.
"""

from __future__ import annotations

from broker.sns.publish import BatchPublished, Published, publish, publish_batch
from broker.sns.subscriptions import (
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
