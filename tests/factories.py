"""Arrange state through the services, so invariants and events hold."""

from __future__ import annotations

from broker import lambdas, sqs


def make_queue(workspace, name: str = "MyTaskQueue", *, clock, **attributes):
    return sqs.create_queue(
        workspace, name, attributes={k: str(v) for k, v in attributes.items()}, clock=clock
    )


def make_function(workspace, name: str = "ConsumerFunction", *, clock, **config):
    return lambdas.create_function(workspace, name, clock=clock, **config)


def make_mapping(queue, function, *, clock, **options):
    return lambdas.create_event_source_mapping(queue, function, clock=clock, **options)
