"""A function's execution role, as far as SQS goes: which SQS actions it allows
(lambda-sqs.md §7). A trigger needs ReceiveMessage, DeleteMessage and
GetQueueAttributes; AWSLambdaSQSQueueExecutionRole grants exactly those.

Enforced only in a workspace under AWS's strict rules (`Workspace.aws_strict`):
CreateEventSourceMapping refuses a role that lacks one, as AWS does; a role changed
afterwards makes the poller fail (no ReceiveMessage) or leaves every batch
undeleted, so it comes back until the redrive policy moves it (no DeleteMessage).
"""

from __future__ import annotations

from broker import errors, events
from broker.models import Function

ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
    "sqs:SendMessage",
)

# arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole, its SQS part.
SQS_QUEUE_EXECUTION_ROLE = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")

# What a trigger's poller calls, in the order AWS checks them.
TRIGGER_NEEDS = SQS_QUEUE_EXECUTION_ROLE


def allows(function: Function, action: str) -> bool:
    """Whether the function's role lets it call `action` ("sqs:DeleteMessage")."""
    if function.role_actions is None or not function.workspace.aws_strict:
        return True
    return action in function.role_actions


def denied(action: str) -> errors.RoleAccessDenied:
    name = action.removeprefix("sqs:")
    return errors.RoleAccessDenied(
        f"The function execution role does not have permissions to call {name} on SQS"
    )


def check_trigger(function: Function) -> None:
    """CreateEventSourceMapping's check: InvalidParameterValueException naming the
    first action the role lacks."""
    for action in TRIGGER_NEEDS:
        if not allows(function, action):
            raise errors.InvalidParameterValueException(
                f"The provided execution role does not have permissions to call "
                f"{action.removeprefix('sqs:')} on SQS",
                field="function",
            )


def set_actions(function: Function, actions: list[str] | None, *, clock) -> Function:
    """Give the role these SQS actions (None: all of them). Records `function.updated`."""
    if actions is not None:
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise errors.InvalidParameterValueException(
                f"Unknown SQS action {unknown[0][:60]!r}: choose from {', '.join(ACTIONS)}.",
                field="role_actions",
            )
        actions = [a for a in ACTIONS if a in actions]
    function.role_actions = actions
    function.modified_at = clock.now()
    function.save(update_fields=["role_actions", "modified_at"])
    events.record(
        function.workspace,
        "function.updated",
        subject=events.subject("function", function.name),
        data={"changed": ["role_actions"], "role_actions": actions},
        clock=clock,
    )
    return function
