"""Arrange state through the services, so invariants and events hold."""

from __future__ import annotations

from broker import sqs


def make_queue(workspace, name: str = "MyTaskQueue", *, clock, **attributes):
    return sqs.create_queue(
        workspace, name, attributes={k: str(v) for k, v in attributes.items()}, clock=clock
    )
