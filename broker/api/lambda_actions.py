"""The Lambda operations: each maps a request onto `broker.lambdas` and writes the answer
in the shapes of botocore's `lambda` model (lambda-sqs.md §1, §6, §9).

No Lambda semantics live here: bounds, concurrency and mapping rules are
`broker.lambdas`'s. A synchronous Invoke answers a `PendingInvoke`: the view waits
for the simulated run to end (`broker/api/views.py`) and `invoke_result` writes it.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from broker import arns, errors, lambdas, sqs
from broker.api.lambda_rest import Result, log_result
from broker.models import EventSourceMapping, Function, Invocation
from broker.numbers import parse_int

DEFAULT_PAGE, MAX_PAGE = 50, 10_000

# ESM parameters of stream and Kafka sources: AWS refuses them for an SQS queue.
NOT_FOR_SQS = (
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "TumblingWindowInSeconds",
    "DestinationConfig",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
)


# --- reading parameters --------------------------------------------------------------


def _wrong_type(name: str, value, wanted: str) -> errors.InvalidRequestContentException:
    return errors.InvalidRequestContentException(
        f"Could not parse request body into json: Could not parse payload into json: "
        f"{name} must be {wanted}, not {type(value).__name__}"
    )


def _get(params: dict, name: str, kind: type | tuple, *, needed: bool = False):
    value = params.get(name)
    if value is None:
        if needed:
            raise errors.InvalidParameterValueException(f"{name} is required.")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        wanted = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object"}
        raise _wrong_type(name, value, wanted.get(kind, "a list"))
    return value


def _or(value, default):
    return default if value is None else value


def _query_int(params: dict, name: str, *, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    number = value if type(value) is int else parse_int(value) if isinstance(value, str) else None
    if number is None:
        raise errors.InvalidParameterValueException(f"Invalid value for {name}: {str(value)[:40]}")
    if not low <= number <= high:
        raise errors.ValidationException(
            f"1 validation error detected: Value '{number}' at '{name[0].lower()}{name[1:]}' "
            f"failed to satisfy constraint: Member must have value between {low} and {high}"
        )
    return number


def _environment(params: dict) -> dict | None:
    environment = _get(params, "Environment", dict)
    if environment is None:
        return None
    variables = environment.get("Variables", {})
    if not isinstance(variables, dict):
        raise _wrong_type("Environment.Variables", variables, "an object")
    return variables


def _zip(value, name: str = "ZipFile") -> bytes:
    if not isinstance(value, str):
        raise _wrong_type(name, value, "a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None


def _code(params: dict, *, key: str | None) -> bytes:
    """The zip of a Code structure (CreateFunction) or of the body (UpdateFunctionCode)."""
    source = _get(params, key, dict, needed=True) if key else params
    if source.get("ZipFile") is None:
        if any(source.get(k) for k in ("S3Bucket", "S3Key", "ImageUri")):
            raise errors.InvalidParameterValueException(
                "This playground has no S3 or container registry: send the zip itself as ZipFile."
            )
        raise errors.InvalidParameterValueException("Please provide a source for function code.")
    return _zip(source["ZipFile"])


def function_named(call, name: str) -> Function:
    """A function by name, ARN or partial ARN (`123456789012:function:name`), with an
    optional `:$LATEST` qualifier; ResourceNotFoundException as Lambda words it."""
    workspace = call.workspace
    bare = name
    if name.startswith("arn:"):
        parsed = arns.parse(name)
        if parsed is None or parsed.service != "lambda":
            raise errors.ValidationException(
                f"1 validation error detected: Value '{name[:200]}' at 'functionName' failed "
                "to satisfy constraint: Member must satisfy regular expression pattern: "
                "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
            )
        if parsed.region != workspace.region or parsed.account != workspace.account_id:
            raise _function_not_found(call, parsed.resource.split(":")[1:2] or [name])
        bare = parsed.resource.removeprefix("function:")
    elif ":function:" in name:
        account, _, bare = name.partition(":function:")
        if account != workspace.account_id:
            raise _function_not_found(call, bare)
    bare, _, qualifier = bare.partition(":")
    if qualifier not in ("", "$LATEST"):
        raise errors.ResourceNotFoundException(
            f"Function not found: {arns.function(workspace, bare)}:{qualifier}"
        )
    function = Function.objects.filter(workspace=workspace, name=bare).first()
    if function is None:
        raise _function_not_found(call, bare)
    function.workspace = workspace
    return function


def _function_not_found(call, name) -> errors.ResourceNotFoundException:
    name = name[0] if isinstance(name, list) else name
    return errors.ResourceNotFoundException(
        f"Function not found: {arns.function(call.workspace, name)}"
    )


def _mapping(call, params: dict) -> EventSourceMapping:
    try:
        key = uuid.UUID(str(params.get("UUID")))
    except ValueError:
        key = None
    found = (
        EventSourceMapping.objects.filter(workspace=call.workspace, uuid=key)
        .select_related("queue", "function")
        .first()
        if key
        else None
    )
    if found is None:
        raise errors.ResourceNotFoundException("The resource you requested does not exist.")
    found.queue.workspace = found.function.workspace = call.workspace
    return found


# --- shapes ---------------------------------------------------------------------------


def _iso(at: float) -> str:
    """A function's LastModified: `2024-01-01T00:00:00.000+0000`."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def role_of(function: Function) -> str:
    return function.role or (
        f"arn:aws:iam::{function.workspace.account_id}:role/service-role/{function.name}-role"
    )


def function_configuration(function: Function) -> dict:
    config = {
        "FunctionName": function.name,
        "FunctionArn": function.arn,
        "Runtime": function.runtime,
        "Role": role_of(function),
        "Handler": function.handler,
        "CodeSize": len(function.code),
        "Description": function.description,
        "Timeout": function.timeout,
        "MemorySize": function.memory_size,
        "LastModified": _iso(function.modified_at),
        "CodeSha256": function.code_sha256,
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{function.pk}:{function.modified_at}")),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function.name}"},
    }
    if function.environment:
        config["Environment"] = {"Variables": dict(function.environment)}
    return config


def _state(mapping: EventSourceMapping, transition: str | None = None) -> str:
    return transition or ("Enabled" if mapping.enabled else "Disabled")


def _last_result(mapping: EventSourceMapping) -> str:
    if mapping.poll_error:
        return f"PROBLEM: {mapping.poll_error}"
    if mapping.invocations.exists():
        return "OK"
    return "No records processed"


def mapping_configuration(mapping: EventSourceMapping, *, state: str | None = None) -> dict:
    config = {
        "UUID": str(mapping.uuid),
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": mapping.maximum_batching_window,
        "EventSourceArn": mapping.queue.arn,
        "EventSourceMappingArn": mapping.arn,
        "FunctionArn": mapping.function.arn,
        "FunctionResponseTypes": list(mapping.function_response_types),
        "LastModified": round(mapping.modified_at, 3),
        "LastProcessingResult": _last_result(mapping),
        "State": _state(mapping, state),
        "StateTransitionReason": "USER_INITIATED",
    }
    if mapping.maximum_concurrency is not None:
        config["ScalingConfig"] = {"MaximumConcurrency": mapping.maximum_concurrency}
    if mapping.filter_criteria:
        config["FilterCriteria"] = mapping.filter_criteria
    return config


def _page(params: dict, names: list[str]) -> tuple[int, int | None]:
    """(offset, next offset or None) of a ListFunctions / ListEventSourceMappings page.
    The marker is opaque to the caller: the offset, base64."""
    size = _query_int(params, "MaxItems", low=1, high=MAX_PAGE) or DEFAULT_PAGE
    offset = 0
    marker = params.get("Marker")
    if marker:
        try:
            offset = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            offset = -1
        if offset < 0:
            raise errors.InvalidParameterValueException("Invalid Marker.")
    end = offset + size
    return offset, end if end < len(names) else None


def _marker(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


# --- functions -------------------------------------------------------------------------


def create_function(call, params: dict) -> Result:
    name = _get(params, "FunctionName", str, needed=True)
    call.queue_name = ""
    if params.get("PackageType", "Zip") != "Zip":
        raise errors.InvalidParameterValueException(
            "This playground runs Zip functions only: PackageType must be Zip."
        )
    role = _get(params, "Role", str, needed=True)
    function = lambdas.create_function(
        call.workspace,
        name,
        runtime=_get(params, "Runtime", str) or lambdas.functions.DEFAULT_RUNTIME,
        handler=_get(params, "Handler", str) or "index.handler",
        role=role,
        description=_get(params, "Description", str) or "",
        timeout=_or(_get(params, "Timeout", int), 3),
        memory_size=_or(_get(params, "MemorySize", int), 128),
        environment=_environment(params),
        code=_code(params, key="Code"),
        clock=call.clock,
    )
    function.workspace = call.workspace
    return Result(function_configuration(function), status=201)


def get_function(call, params: dict) -> Result:
    function = function_named(call, params["FunctionName"])
    body = {
        "Configuration": function_configuration(function),
        "Code": {"RepositoryType": "S3", "Location": code_location(call, function)},
        "Tags": {},
    }
    if function.reserved_concurrency is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": function.reserved_concurrency}
    return Result(body)


def code_location(call, function: Function) -> str:
    """A link that downloads the function's zip for ten minutes, as AWS's presigned one."""
    from broker.api import lambda_code

    return f"{call.base_url}{lambda_code.download_path(function)}"


def get_function_configuration(call, params: dict) -> Result:
    return Result(function_configuration(function_named(call, params["FunctionName"])))


def list_functions(call, params: dict) -> Result:
    functions = list(Function.objects.filter(workspace=call.workspace).order_by("name"))
    offset, next_offset = _page(params, [f.name for f in functions])
    size = (len(functions) if next_offset is None else next_offset) - offset
    body: dict = {"Functions": []}
    for function in functions[offset : offset + size]:
        function.workspace = call.workspace
        body["Functions"].append(function_configuration(function))
    if next_offset is not None:
        body["NextMarker"] = _marker(next_offset)
    return Result(body)


def update_function_configuration(call, params: dict) -> Result:
    function = function_named(call, params["FunctionName"])
    function = lambdas.update_function(
        function,
        runtime=_get(params, "Runtime", str),
        handler=_get(params, "Handler", str),
        role=_get(params, "Role", str),
        description=_get(params, "Description", str),
        timeout=_get(params, "Timeout", int),
        memory_size=_get(params, "MemorySize", int),
        environment=_environment(params),
        clock=call.clock,
    )
    return Result(function_configuration(function))


def update_function_code(call, params: dict) -> Result:
    function = function_named(call, params["FunctionName"])
    code = _code(params, key=None)
    if params.get("DryRun") is True:
        lambdas.functions.check_zip(code)
        return Result(function_configuration(function))
    function = lambdas.update_function(function, code=code, clock=call.clock)
    return Result(function_configuration(function))


def delete_function(call, params: dict) -> Result:
    function = function_named(call, params["FunctionName"])
    lambdas.delete_function(function, clock=call.clock)
    return Result(None, status=204)


# --- concurrency -----------------------------------------------------------------------


def put_function_concurrency(call, params: dict) -> Result:
    function = function_named(call, params["FunctionName"])
    value = _get(params, "ReservedConcurrentExecutions", int, needed=True)
    lambdas.set_reserved_concurrency(function, value, clock=call.clock)
    return Result({"ReservedConcurrentExecutions": value})


def get_function_concurrency(call, params: dict) -> Result:
    function = function_named(call, params["FunctionName"])
    if function.reserved_concurrency is None:
        return Result({})
    return Result({"ReservedConcurrentExecutions": function.reserved_concurrency})


def delete_function_concurrency(call, params: dict) -> Result:
    function = function_named(call, params["FunctionName"])
    lambdas.set_reserved_concurrency(function, None, clock=call.clock)
    return Result(None, status=204)


# --- invoke ------------------------------------------------------------------------


@dataclass
class PendingInvoke:
    """A synchronous invocation started; the view waits for its simulated end."""

    invocation: Invocation
    log_tail: bool
    function_arn: str


def invoke(call, params: dict):
    function = function_named(call, params["FunctionName"])
    qualifier = params.get("Qualifier")
    if qualifier not in (None, "", "$LATEST"):
        raise errors.ResourceNotFoundException(f"Function not found: {function.arn}:{qualifier}")
    invocation_type = params.get("InvocationType") or "RequestResponse"
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        raise errors.InvalidParameterValueException(
            f"Unsupported invocation type {invocation_type[:40]}: use RequestResponse, Event "
            "or DryRun."
        )
    log_type = params.get("LogType") or "None"
    if log_type not in ("None", "Tail"):
        raise errors.InvalidParameterValueException(
            f"Unsupported log type {log_type[:40]}: use None or Tail."
        )
    invocation = lambdas.invoke(
        function, params.get("Payload") or b"", invocation_type=invocation_type, clock=call.clock
    )
    if invocation_type == "DryRun":
        return Result(None, status=204)
    if invocation_type == "Event":
        return Result(None, status=202)
    return PendingInvoke(invocation, log_tail=log_type == "Tail", function_arn=function.arn)


def invoke_result(pending: PendingInvoke) -> Result:
    """The finished synchronous invocation, as Invoke answers it."""
    invocation = Invocation.objects.filter(pk=pending.invocation.pk).first()
    if invocation is None:  # its function was deleted meanwhile
        raise errors.ResourceNotFoundException(f"Function not found: {pending.function_arn}")
    headers = {"X-Amz-Executed-Version": "$LATEST"}
    if invocation.status != Invocation.Status.SUCCEEDED:
        headers["X-Amz-Function-Error"] = "Unhandled"
    if pending.log_tail:
        headers["X-Amz-Log-Result"] = log_result(lambdas.log_tail(invocation))
    return Result((invocation.response or "null").encode(), headers=headers)


# --- event source mappings --------------------------------------------------------------


def _scaling(params: dict):
    scaling = _get(params, "ScalingConfig", dict)
    if scaling is None:
        return lambdas.UNCHANGED
    value = scaling.get("MaximumConcurrency")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise _wrong_type("ScalingConfig.MaximumConcurrency", value, "an integer")
    return value  # {} removes the cap


def _filter_criteria(params: dict):
    criteria = _get(params, "FilterCriteria", dict)
    if criteria is None:
        return lambdas.UNCHANGED
    return criteria if criteria.get("Filters") else None  # {} or no filters removes them


def _refuse_stream_parameters(params: dict) -> None:
    for name in NOT_FOR_SQS:
        if params.get(name) is not None:
            raise errors.InvalidParameterValueException(
                f"Unsupported {name} parameter for given event source mapping type."
            )


def _queue_of(call, arn: str):
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "sqs":
        raise errors.InvalidParameterValueException("Unrecognized event source.")
    if parsed.region != call.workspace.region or parsed.account != call.workspace.account_id:
        return None
    try:
        queue = sqs.get_queue(call.workspace, parsed.resource)
    except errors.QueueDoesNotExist:
        return None
    queue.workspace = call.workspace
    call.queue_name = queue.name
    return queue


def create_event_source_mapping(call, params: dict) -> Result:
    arn = _get(params, "EventSourceArn", str, needed=True)
    name = _get(params, "FunctionName", str, needed=True)
    _refuse_stream_parameters(params)
    queue = _queue_of(call, arn)
    try:
        function = function_named(call, name)
    except errors.ResourceNotFoundException:
        function = None
    if function is None and queue is not None:
        raise errors.InvalidParameterValueException("Function does not exist")
    enabled = _get(params, "Enabled", bool)
    scaling = _scaling(params)
    criteria = _filter_criteria(params)
    mapping = lambdas.create_event_source_mapping(
        queue,
        function,
        batch_size=_or(_get(params, "BatchSize", int), 10),
        batching_window=_or(_get(params, "MaximumBatchingWindowInSeconds", int), 0),
        enabled=True if enabled is None else enabled,
        maximum_concurrency=None if scaling is lambdas.UNCHANGED else scaling,
        function_response_types=_get(params, "FunctionResponseTypes", list) or [],
        filter_criteria=None if criteria is lambdas.UNCHANGED else criteria,
        clock=call.clock,
    )
    return Result(mapping_configuration(mapping, state="Creating"), status=202)


def get_event_source_mapping(call, params: dict) -> Result:
    return Result(mapping_configuration(_mapping(call, params)))


def list_event_source_mappings(call, params: dict) -> Result:
    mappings = EventSourceMapping.objects.filter(workspace=call.workspace).select_related(
        "queue", "function"
    )
    if params.get("EventSourceArn"):
        queue = _queue_of(call, params["EventSourceArn"])
        mappings = mappings.filter(queue=queue) if queue else mappings.none()
    if params.get("FunctionName"):
        mappings = mappings.filter(function=function_named(call, params["FunctionName"]))
    found = list(mappings.order_by("created", "pk"))
    offset, next_offset = _page(params, [str(m.uuid) for m in found])
    size = (len(found) if next_offset is None else next_offset) - offset
    body: dict = {"EventSourceMappings": []}
    for mapping in found[offset : offset + size]:
        mapping.queue.workspace = mapping.function.workspace = call.workspace
        body["EventSourceMappings"].append(mapping_configuration(mapping))
    if next_offset is not None:
        body["NextMarker"] = _marker(next_offset)
    return Result(body)


def update_event_source_mapping(call, params: dict) -> Result:
    mapping = _mapping(call, params)
    _refuse_stream_parameters(params)
    was_enabled = mapping.enabled
    name = _get(params, "FunctionName", str)
    mapping = lambdas.update_event_source_mapping(
        mapping,
        function=function_named(call, name) if name else None,
        batch_size=_get(params, "BatchSize", int),
        batching_window=_get(params, "MaximumBatchingWindowInSeconds", int),
        enabled=_get(params, "Enabled", bool),
        maximum_concurrency=_scaling(params),
        function_response_types=_get(params, "FunctionResponseTypes", list),
        filter_criteria=_filter_criteria(params),
        clock=call.clock,
    )
    if mapping.enabled != was_enabled:
        state = "Enabling" if mapping.enabled else "Disabling"
    else:
        state = "Updating"
    return Result(mapping_configuration(mapping, state=state), status=202)


def delete_event_source_mapping(call, params: dict) -> Result:
    mapping = _mapping(call, params)
    body = mapping_configuration(mapping, state="Deleting")
    lambdas.delete_event_source_mapping(mapping, clock=call.clock)
    return Result(body, status=202)


ACTIONS = {
    "CreateFunction": create_function,
    "GetFunction": get_function,
    "GetFunctionConfiguration": get_function_configuration,
    "ListFunctions": list_functions,
    "UpdateFunctionConfiguration": update_function_configuration,
    "UpdateFunctionCode": update_function_code,
    "DeleteFunction": delete_function,
    "Invoke": invoke,
    "PutFunctionConcurrency": put_function_concurrency,
    "GetFunctionConcurrency": get_function_concurrency,
    "DeleteFunctionConcurrency": delete_function_concurrency,
    "CreateEventSourceMapping": create_event_source_mapping,
    "GetEventSourceMapping": get_event_source_mapping,
    "ListEventSourceMappings": list_event_source_mappings,
    "UpdateEventSourceMapping": update_event_source_mapping,
    "DeleteEventSourceMapping": delete_event_source_mapping,
}
