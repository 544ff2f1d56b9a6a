"""Amazon SNS: topics, subscriptions, publish, filter policies, deliveries (issue "SNS, complete").

Not built yet: this package is where it goes, one module per concept, as in `broker/sqs/`.
"""
