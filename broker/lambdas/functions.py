"""A simulated function's configuration: its name, duration, timeout, memory, failure
rule and log template; created and updated with Lambda's bounds and errors.
"""

from __future__ import annotations

import math
import re

from django.db import IntegrityError, transaction

from broker import errors, events
from broker.models import Function

FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


MIN_TIMEOUT, MAX_TIMEOUT = 1, 900


MIN_MEMORY, MAX_MEMORY = 128, 10_240


def _is_seconds(value) -> bool:
    """A finite number of seconds, 0 or more (an int, float or Decimal)."""
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number >= 0


def _check_function_config(
    *, duration, timeout, memory_size, fail_when_body_contains, log_template
) -> None:
    if duration is not None and not _is_seconds(duration):
        raise errors.InvalidParameterValueException(
            "Duration must be a number of seconds, 0 or more.", field="duration"
        )
    if timeout is not None and (
        not isinstance(timeout, int) or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT
    ):
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy "
            f"constraint: Member must have value between {MIN_TIMEOUT} and {MAX_TIMEOUT}",
            field="timeout",
        )
    if memory_size is not None and (
        not isinstance(memory_size, int) or not MIN_MEMORY <= memory_size <= MAX_MEMORY
    ):
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{memory_size}' at 'memorySize' failed to "
            f"satisfy constraint: Member must have value between {MIN_MEMORY} and "
            f"{MAX_MEMORY}",
            field="memory_size",
        )
    if fail_when_body_contains is not None and len(fail_when_body_contains) > 256:
        raise errors.InvalidParameterValueException(
            "The failure rule must be at most 256 characters.", field="fail_when_body_contains"
        )
    if log_template is not None and len(log_template) > 512:
        raise errors.InvalidParameterValueException(
            "The log line must be at most 512 characters.", field="log_template"
        )


def describe_function(function: Function) -> dict:
    return {
        "duration": function.duration,
        "timeout": function.timeout,
        "memory_size": function.memory_size,
        "fail_when_body_contains": function.fail_when_body_contains,
        "log_template": function.log_template,
    }


@transaction.atomic
def create_function(
    workspace,
    name: str,
    *,
    duration: float = 1.0,
    timeout: int = 3,
    memory_size: int = 128,
    fail_when_body_contains: str = "",
    log_template: str = "Processing message: {body}",
    clock,
) -> Function:
    """Create a function (lambda-sqs.md §6 limits). Records `function.created`.

    Raises InvalidParameterValueException (field = the offending form field) and
    ResourceConflictException (field "name") when the name is taken.
    """
    if not FUNCTION_NAME_RE.match(name or ""):
        raise errors.InvalidParameterValueException(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ "
            "and have length between 1 and 64",
            field="name",
        )
    _check_function_config(
        duration=duration,
        timeout=timeout,
        memory_size=memory_size,
        fail_when_body_contains=fail_when_body_contains,
        log_template=log_template,
    )
    if Function.objects.filter(workspace=workspace, name=name).exists():
        raise errors.ResourceConflictException(f"Function already exist: {name}", field="name")
    try:
        with transaction.atomic():
            function = Function.objects.create(
                workspace=workspace,
                name=name,
                duration=float(duration),
                timeout=timeout,
                memory_size=memory_size,
                fail_when_body_contains=fail_when_body_contains,
                log_template=log_template,
                modified_at=clock.now(),
            )
    except IntegrityError:  # created concurrently
        raise errors.ResourceConflictException(
            f"Function already exist: {name}", field="name"
        ) from None
    events.record(
        workspace,
        "function.created",
        subject=events.subject("function", name),
        data=describe_function(function),
        clock=clock,
    )
    return function


@transaction.atomic
def update_function(
    function: Function,
    *,
    duration: float | None = None,
    timeout: int | None = None,
    memory_size: int | None = None,
    fail_when_body_contains: str | None = None,
    log_template: str | None = None,
    clock,
) -> Function:
    """Change a function's configuration; None leaves a value as it is.

    Running invocations keep the configuration they started with. Records
    `function.updated` with the changed field names in `data["changed"]`.
    """
    _check_function_config(
        duration=duration,
        timeout=timeout,
        memory_size=memory_size,
        fail_when_body_contains=fail_when_body_contains,
        log_template=log_template,
    )
    values = {
        "duration": None if duration is None else float(duration),
        "timeout": timeout,
        "memory_size": memory_size,
        "fail_when_body_contains": fail_when_body_contains,
        "log_template": log_template,
    }
    changed = []
    for key, value in values.items():
        if value is not None and getattr(function, key) != value:
            setattr(function, key, value)
            changed.append(key)
    function.modified_at = clock.now()
    function.save(update_fields=[*changed, "modified_at"])
    events.record(
        function.workspace,
        "function.updated",
        subject=events.subject("function", function.name),
        data={**describe_function(function), "changed": changed},
        clock=clock,
    )
    return function
