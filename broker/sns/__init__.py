"""Amazon SNS: topics so far; subscriptions, publish, filter policies and deliveries are
the next slices of the issue "SNS, complete" (sns.md).

One module per concept, as in `broker/sqs/`; callers import the package (`from broker
import sns`) and call `sns.create_topic(...)`.
"""

from __future__ import annotations

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
]
