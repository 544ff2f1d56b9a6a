"""A function's configuration: what the Lambda API knows of it (runtime, handler, role,
environment, its zip) and what the playground simulates (duration, timeout, memory,
failure rule, log template); created, updated and deleted with Lambda's bounds and
errors (lambda-sqs.md §6, §9).

The simulated settings can also come from environment variables, so code that only
speaks the Lambda API can make a function that behaves as it wants (`SETTINGS_FROM_ENV`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import zipfile

from django.db import IntegrityError, transaction

from broker import errors, events
from broker.models import Function
from broker.pipeline import databases

FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

MIN_TIMEOUT, MAX_TIMEOUT = 1, 900

MIN_MEMORY, MAX_MEMORY = 128, 10_240

# An account's concurrent executions in a region, and what reservations must leave
# to every other function (lambda-sqs.md §6).
ACCOUNT_CONCURRENCY, UNRESERVED_MINIMUM = 1_000, 100

RUNTIMES = (
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "java17",
    "java21",
    "dotnet8",
    "ruby3.3",
    "provided.al2",
    "provided.al2023",
)
DEFAULT_RUNTIME = "python3.12"

ROLE_RE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")

HANDLER_RE = re.compile(r"^[^\s]{1,128}$")

ENVIRONMENT_KEY_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]+$")

MAX_ENVIRONMENT_BYTES = 4 * 1024

# The runtime sets these; a function may not (Lambda's "reserved keys").
RESERVED_ENVIRONMENT_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)

# Lambda takes a zip of up to 50 MB in the request; this playground keeps it in its
# database and takes up to 10 MB.
MAX_ZIP_BYTES = 10 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

# Environment variable -> the simulated setting it sets (documented in the README).
SETTINGS_FROM_ENV = {
    "PLAYGROUND_DURATION": "duration",
    "PLAYGROUND_FAIL_WHEN_BODY_CONTAINS": "fail_when_body_contains",
    "PLAYGROUND_LOG_TEMPLATE": "log_template",
    "PLAYGROUND_REPORT_FAILED_RECORDS": "report_failed_records",
    "PLAYGROUND_DATABASE": "database",
    "PLAYGROUND_DURATION_MAX": "duration_max",
    "PLAYGROUND_FAIL_WHEN_ATTRIBUTE": "fail_when_attribute",
    "PLAYGROUND_FAIL_PERCENT": "fail_percent",
    "PLAYGROUND_FAILURE": "failure",
}

FAILURES = ("exception", "crash")  # how a failing run ends: it raises, or its process dies


def _is_seconds(value) -> bool:
    """A finite number of seconds, 0 to a day (an int, float, Decimal or numeric text)."""
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and 0 <= number <= 86_400


def validation_error(
    value, member: str, constraint: str, *, field: str
) -> errors.ValidationException:
    """The API model's own refusal: "1 validation error detected: …"."""
    return errors.ValidationException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}",
        field=field,
    )


def _check_name(name) -> None:
    if not isinstance(name, str) or not FUNCTION_NAME_RE.match(name):
        raise validation_error(
            name,
            "functionName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ "
            "and have length between 1 and 64",
            field="name",
        )


def _check_function_config(
    *,
    duration=None,
    timeout=None,
    memory_size=None,
    fail_when_body_contains=None,
    report_failed_records=None,
    log_template=None,
    database=None,
    duration_max=None,
    fail_when_attribute=None,
    fail_percent=None,
    failure=None,
    runtime=None,
    handler=None,
    role=None,
    description=None,
    environment=None,
) -> None:
    if duration_max is not None and duration_max != "" and not _is_seconds(duration_max):
        raise errors.InvalidParameterValueException(
            "The longest duration must be a number of seconds from 0 to 86400.",
            field="duration_max",
        )
    if fail_when_attribute and (
        len(fail_when_attribute) > 512
        or not fail_when_attribute.partition("=")[0].strip()
        or "=" not in fail_when_attribute
    ):
        raise errors.InvalidParameterValueException(
            "The attribute rule is name=value (at most 512 characters), e.g. kind=poison.",
            field="fail_when_attribute",
        )
    if fail_percent is not None and (
        isinstance(fail_percent, bool)
        or not isinstance(fail_percent, int)
        or not 0 <= fail_percent <= 100
    ):
        raise errors.InvalidParameterValueException(
            "The failure rate is a whole percentage from 0 to 100.", field="fail_percent"
        )
    if failure is not None and failure not in FAILURES:
        raise errors.InvalidParameterValueException(
            "A failure raises an exception or crashes the process.", field="failure"
        )
    if database is not None and database != "" and not databases.NAME_RE.match(database):
        raise errors.InvalidParameterValueException(
            "The database is named by 1 to 64 letters, digits, hyphens or underscores.",
            field="database",
        )
    if report_failed_records is not None and not isinstance(report_failed_records, bool):
        raise errors.InvalidParameterValueException(
            "Report failed records must be true or false.", field="report_failed_records"
        )
    if duration is not None and not _is_seconds(duration):
        raise errors.InvalidParameterValueException(
            "Duration must be a number of seconds from 0 to 86400.", field="duration"
        )
    if timeout is not None and (
        not isinstance(timeout, int)
        or isinstance(timeout, bool)
        or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT
    ):
        raise validation_error(
            timeout,
            "timeout",
            f"Member must have value between {MIN_TIMEOUT} and {MAX_TIMEOUT}",
            field="timeout",
        )
    if memory_size is not None and (
        not isinstance(memory_size, int)
        or isinstance(memory_size, bool)
        or not MIN_MEMORY <= memory_size <= MAX_MEMORY
    ):
        raise validation_error(
            memory_size,
            "memorySize",
            f"Member must have value between {MIN_MEMORY} and {MAX_MEMORY}",
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
    if runtime is not None and runtime not in RUNTIMES:
        raise validation_error(
            runtime,
            "runtime",
            f"Member must satisfy enum value set: [{', '.join(RUNTIMES)}]",
            field="runtime",
        )
    if handler is not None and not HANDLER_RE.match(handler):
        raise validation_error(
            handler,
            "handler",
            "Member must satisfy regular expression pattern: [^\\s]+ "
            "and have length between 1 and 128",
            field="handler",
        )
    if role is not None and role != "" and (len(role) > 256 or not ROLE_RE.match(role)):
        raise validation_error(
            role,
            "role",
            "Member must satisfy regular expression pattern: "
            "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
            field="role",
        )
    if description is not None and len(description) > 256:
        raise validation_error(
            "...",
            "description",
            "Member must have length less than or equal to 256",
            field="description",
        )
    if environment is not None:
        _check_environment(environment)


def _check_range(duration: float, duration_max: float | None) -> None:
    if duration_max is not None and duration_max < duration:
        raise errors.InvalidParameterValueException(
            "The longest duration must be at least the duration.", field="duration_max"
        )


def _check_environment(environment: dict) -> None:
    reserved = sorted(key for key in environment if key in RESERVED_ENVIRONMENT_KEYS)
    if reserved:
        raise errors.InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            "currently not supported for modification. Reserved keys used in this request: "
            + ", ".join(reserved),
            field="environment",
        )
    for key, value in environment.items():
        if not ENVIRONMENT_KEY_RE.match(key) or not isinstance(value, str):
            raise errors.InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the "
                f"environment variables you have provided are invalid: {key[:64]!r} is not "
                "a name of letters, digits and underscores starting with a letter, or its "
                "value is not a string.",
                field="environment",
            )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in environment.items())
    if size > MAX_ENVIRONMENT_BYTES:
        raise errors.InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. String measured: "
            f"{size}",
            field="environment",
        )


def settings_from_environment(environment: dict | None) -> dict:
    """The simulated settings the PLAYGROUND_* variables set, checked like the form's."""
    settings = {}
    for key, setting in SETTINGS_FROM_ENV.items():
        if environment and key in environment:
            settings[setting] = environment[key]
    if "duration" in settings:
        if not _is_seconds(settings["duration"]):
            raise errors.InvalidParameterValueException(
                f"PLAYGROUND_DURATION must be a number of seconds from 0 to 86400, "
                f"not {settings['duration'][:40]!r}.",
                field="environment",
            )
        settings["duration"] = float(settings["duration"])
    if "duration_max" in settings:
        if not _is_seconds(settings["duration_max"]):
            raise errors.InvalidParameterValueException(
                "PLAYGROUND_DURATION_MAX must be a number of seconds from 0 to 86400.",
                field="environment",
            )
        settings["duration_max"] = float(settings["duration_max"])
    if "fail_percent" in settings:
        value = settings["fail_percent"].strip()
        if not value.isdigit() or int(value) > 100:
            raise errors.InvalidParameterValueException(
                "PLAYGROUND_FAIL_PERCENT must be a whole number from 0 to 100.",
                field="environment",
            )
        settings["fail_percent"] = int(value)
    if "report_failed_records" in settings:
        value = settings["report_failed_records"].strip().lower()
        if value not in ("true", "false"):
            raise errors.InvalidParameterValueException(
                "PLAYGROUND_REPORT_FAILED_RECORDS must be true or false.", field="environment"
            )
        settings["report_failed_records"] = value == "true"
    return settings


def check_zip(code: bytes) -> None:
    """A zip Lambda could unpack: at most MAX_ZIP_BYTES, whole, unpacking to ≤ 250 MB."""
    if len(code) > MAX_ZIP_BYTES:
        raise errors.RequestEntityTooLargeException(
            f"Request must be smaller than {MAX_ZIP_BYTES} bytes for the CreateFunction "
            "and UpdateFunctionCode operations here.",
            field="code",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise errors.InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again.",
            field="code",
        ) from None
    if unzipped > MAX_UNZIPPED_BYTES:
        raise errors.InvalidParameterValueException(
            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes", field="code"
        )


def _check_runnable(*, runtime: str, code: bytes, environment: dict | None) -> None:
    """Code that would run, on a deployment that runs none: refused, with the way out."""
    from broker.lambdas import runtime as runtimes  # runtime imports this module

    if runtimes.wants_code(runtime=runtime, code=code, environment=environment) and (
        not runtimes.enabled()
    ):
        raise errors.InvalidParameterValueException(
            "This playground does not run uploaded code (PLAYGROUND_RUN_CODE is off, as it "
            "is on a shared deployment). Set PLAYGROUND_DURATION, or another PLAYGROUND_* "
            "variable, to make a simulated function instead.",
            field="code",
        )


def code_sha256(code: bytes) -> str:
    """Lambda's CodeSha256: the base64 of the zip's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(code).digest()).decode() if code else ""


def describe_function(function: Function) -> dict:
    """The simulated settings an invocation runs with (copied onto it when it starts)."""
    return {
        "duration": function.duration,
        "timeout": function.timeout,
        "memory_size": function.memory_size,
        "fail_when_body_contains": function.fail_when_body_contains,
        "report_failed_records": function.report_failed_records,
        "log_template": function.log_template,
        "database": function.database,
        "duration_max": function.duration_max,
        "fail_when_attribute": function.fail_when_attribute,
        "fail_percent": function.fail_percent,
        "failure": function.failure,
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
    report_failed_records: bool = False,
    log_template: str = "Processing message: {body}",
    database: str = "",
    duration_max: float | None = None,
    fail_when_attribute: str = "",
    fail_percent: int = 0,
    failure: str = "exception",
    runtime: str = DEFAULT_RUNTIME,
    handler: str = "index.handler",
    role: str = "",
    description: str = "",
    environment: dict | None = None,
    code: bytes = b"",
    clock,
) -> Function:
    """Create a function (lambda-sqs.md §6 limits). Records `function.created`.

    PLAYGROUND_* variables in `environment` override the simulated settings. Raises
    ValidationException or InvalidParameterValueException (field = the offending
    form field) and ResourceConflictException (field "name") when the name is taken.
    """
    _check_name(name)
    environment = dict(environment or {})
    _check_function_config(
        duration=duration,
        timeout=timeout,
        memory_size=memory_size,
        fail_when_body_contains=fail_when_body_contains,
        log_template=log_template,
        database=database,
        duration_max=duration_max,
        fail_when_attribute=fail_when_attribute,
        fail_percent=fail_percent,
        failure=failure,
        runtime=runtime,
        handler=handler,
        role=role,
        description=description,
        environment=environment,
    )
    settings = {
        "duration": float(duration),
        "fail_when_body_contains": fail_when_body_contains,
        "report_failed_records": bool(report_failed_records),
        "log_template": log_template,
        "database": database,
        "duration_max": None if duration_max in (None, "") else float(duration_max),
        "fail_when_attribute": fail_when_attribute,
        "fail_percent": fail_percent,
        "failure": failure,
        **settings_from_environment(environment),
    }
    _check_function_config(**settings)
    _check_range(settings["duration"], settings["duration_max"])
    if code:
        check_zip(code)
    _check_runnable(runtime=runtime, code=code, environment=environment)
    if Function.objects.filter(workspace=workspace, name=name).exists():
        raise errors.ResourceConflictException(f"Function already exist: {name}", field="name")
    try:
        with transaction.atomic():
            function = Function.objects.create(
                workspace=workspace,
                name=name,
                timeout=timeout,
                memory_size=memory_size,
                runtime=runtime,
                handler=handler,
                role=role,
                description=description,
                environment=environment,
                code=code,
                code_sha256=code_sha256(code),
                modified_at=clock.now(),
                **settings,
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
    report_failed_records: bool | None = None,
    log_template: str | None = None,
    database: str | None = None,
    duration_max: float | str | None = None,
    fail_when_attribute: str | None = None,
    fail_percent: int | None = None,
    failure: str | None = None,
    runtime: str | None = None,
    handler: str | None = None,
    role: str | None = None,
    description: str | None = None,
    environment: dict | None = None,
    code: bytes | None = None,
    clock,
) -> Function:
    """Change a function's configuration or code; None leaves a value as it is.

    Running invocations keep the configuration they started with. Records
    `function.updated` with the changed field names in `data["changed"]`.
    """
    _check_function_config(
        duration=duration,
        timeout=timeout,
        memory_size=memory_size,
        fail_when_body_contains=fail_when_body_contains,
        log_template=log_template,
        database=database,
        duration_max=duration_max,
        fail_when_attribute=fail_when_attribute,
        fail_percent=fail_percent,
        failure=failure,
        runtime=runtime,
        handler=handler,
        role=role,
        description=description,
        environment=environment,
    )
    from_env = settings_from_environment(environment)
    _check_function_config(**from_env)
    if code is not None:
        check_zip(code)
    _check_runnable(
        runtime=runtime or function.runtime,
        code=function.code if code is None else code,
        environment=function.environment if environment is None else environment,
    )
    values = {
        "duration": None if duration is None else float(duration),
        "timeout": timeout,
        "memory_size": memory_size,
        "fail_when_body_contains": fail_when_body_contains,
        "report_failed_records": report_failed_records,
        "log_template": log_template,
        "database": database,
        "fail_when_attribute": fail_when_attribute,
        "fail_percent": fail_percent,
        "failure": failure,
        "runtime": runtime,
        "handler": handler,
        "role": role,
        "description": description,
        "environment": None if environment is None else dict(environment),
        **from_env,
    }
    if code is not None:
        values["code"], values["code_sha256"] = code, code_sha256(code)
    changed = []
    for key, value in values.items():
        if value is not None and getattr(function, key) != value:
            setattr(function, key, value)
            changed.append(key)
    # The longest duration may be cleared ("" from a form): None means "unchanged" here.
    if "duration_max" in from_env or duration_max is not None:
        longest = from_env.get("duration_max", None if duration_max == "" else duration_max)
        longest = None if longest is None else float(longest)
        if longest != function.duration_max:
            function.duration_max = longest
            changed.append("duration_max")
    _check_range(function.duration, function.duration_max)
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


@transaction.atomic
def delete_function(function: Function, *, clock) -> None:
    """Delete a function, its triggers and its invocations. Records `function.deleted`.

    The messages a running batch holds stay in flight: their visibility timeout
    brings them back for whatever reads the queue next, as on AWS.
    """
    workspace, name = function.workspace, function.name
    function.delete()
    events.record(
        workspace, "function.deleted", subject=events.subject("function", name), clock=clock
    )


def set_reserved_concurrency(function: Function, value: int | None, *, clock) -> Function:
    """PutFunctionConcurrency (0 throttles every invocation) or, with None,
    DeleteFunctionConcurrency. What all functions reserve must leave the account
    UNRESERVED_MINIMUM of its ACCOUNT_CONCURRENCY. Records `function.concurrency_set`."""
    if value is not None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise validation_error(
                value,
                "reservedConcurrentExecutions",
                "Member must have value greater than or equal to 0",
                field="reserved_concurrency",
            )
        others = (
            Function.objects.filter(workspace_id=function.workspace_id)
            .exclude(pk=function.pk)
            .exclude(reserved_concurrency=None)
            .values_list("reserved_concurrency", flat=True)
        )
        if sum(others) + value > ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM:
            raise errors.InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MINIMUM}].",
                field="reserved_concurrency",
            )
    function.reserved_concurrency = value
    function.modified_at = clock.now()
    function.save(update_fields=["reserved_concurrency", "modified_at"])
    events.record(
        function.workspace,
        "function.concurrency_set",
        subject=events.subject("function", function.name),
        data={"reserved_concurrency": value},
        clock=clock,
    )
    return function
