"""Reading typed request parameters the way SQS validates them (`sqs.md` §3–§11).

Both protocols arrive here as JSON-protocol shapes; query values are strings, so
integers and booleans accept their decimal / `true` text too. Missing required
members raise MissingParameter, wrong types and ranges InvalidParameterValue.
"""

from __future__ import annotations

import base64
import binascii

from broker import errors
from broker.numbers import parse_int


def _invalid(name: str, value, reason: str) -> errors.InvalidParameterValue:
    shown = str(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return errors.InvalidParameterValue(
        f"Value {shown} for parameter {name} is invalid. Reason: {reason}"
    )


def required(params: dict, name: str):
    value = params.get(name)
    if value is None or value == "" or value == [] or value == {}:
        raise errors.MissingParameter(f"The request must contain the parameter {name}.")
    return value


def string(params: dict, name: str, *, needed: bool = False) -> str | None:
    value = required(params, name) if needed else params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, value, "Must be a string.")
    return value


def integer(params: dict, name: str, *, needed: bool = False) -> int | None:
    value = required(params, name) if needed else params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _invalid(name, value, "Must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (number := parse_int(value)) is not None:
        return number
    raise _invalid(name, value, "Must be an integer.")


def boolean(params: dict, name: str) -> bool | None:
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _invalid(name, value, "Must be a boolean.")


def string_list(params: dict, name: str, *, needed: bool = False) -> list[str]:
    value = required(params, name) if needed else params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(name, value, "Must be a list of strings.")
    return value


def string_map(params: dict, name: str, *, needed: bool = False) -> dict[str, str]:
    value = required(params, name) if needed else params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _invalid(name, value, "Must be a map of strings to strings.")
    return value


def message_attributes(value, name: str = "MessageAttributes") -> dict:
    """Attribute map with BinaryValue decoded from base64 into bytes, as `broker/sqs/` wants."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(name, value, "Must be a map of message attribute values.")
    out = {}
    for attr, spec in value.items():
        if not isinstance(spec, dict):
            raise _invalid(f"{name}.{attr}", spec, "Must be a message attribute value.")
        data_type = spec.get("DataType")
        if not isinstance(data_type, str) or not data_type:
            raise errors.InvalidParameterValue(
                f"The message attribute '{attr}' must contain a non-empty message attribute type."
            )
        item: dict = {"DataType": data_type}
        if data_type.split(".", 1)[0] == "Binary":
            raw = spec.get("BinaryValue")
            if not isinstance(raw, str):
                raise errors.InvalidParameterValue(
                    f"Message (user) attribute '{attr}' must contain a non-empty value of type "
                    "'Binary'."
                )
            try:
                item["BinaryValue"] = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise _invalid(
                    f"{name}.{attr}.BinaryValue", raw, "Must be base64-encoded binary data."
                ) from None
        else:
            text = spec.get("StringValue")
            if text is not None and not isinstance(text, str):
                raise _invalid(f"{name}.{attr}.StringValue", text, "Must be a string.")
            item["StringValue"] = text
        out[attr] = item
    return out


def entries(params: dict) -> list[dict]:
    value = params.get("Entries")
    if value is None or value == "":  # the query protocol sends an empty list as `Entries=`
        return []
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise _invalid("Entries", value, "Must be a list of batch entries.")
    return value
