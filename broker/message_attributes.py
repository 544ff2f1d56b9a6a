"""Message attributes, as SQS (and SNS's Publish) take them: names, data types, limits
and the MD5 SDKs check.

Follows `shared/reference/sqs.md` §3. An attribute is stored as
`{"DataType": "String" | "Number" | "Binary" (with an optional ".custom" suffix),
"StringValue" | "BinaryValue" (base64)}`. `validate` refuses what SQS refuses, with
SQS's texts, and returns the attributes as stored with their size (name, type and
value count against the message size). `md5_of_attributes` is the digest SQS
answers as MD5OfMessageAttributes, which boto3 recomputes and compares.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from decimal import Decimal, InvalidOperation

from broker import errors

MAX_MESSAGE_ATTRIBUTES = 10
# The base data types; a custom type adds a suffix after a period (Number.float).
DATA_TYPES = ("String", "Number", "Binary")


ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")


# SQS accepts #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def md5_of_attributes(attributes: dict) -> str | None:
    """MD5 of message attributes exactly as SQS computes it (sqs.md §3.2).

    `attributes` maps name -> {"DataType", "StringValue" | "BinaryValue" (base64)}.
    """
    if not attributes:
        return None
    buf = bytearray()

    def put(data: bytes) -> None:
        buf.extend(struct.pack(">I", len(data)))
        buf.extend(data)

    for name in sorted(attributes):
        value = attributes[name]
        put(name.encode("utf-8"))
        put(value["DataType"].encode("utf-8"))
        if "BinaryValue" in value:
            buf.append(2)
            put(base64.b64decode(value["BinaryValue"]))
        else:
            buf.append(1)
            put(value["StringValue"].encode("utf-8"))
    return hashlib.md5(bytes(buf)).hexdigest()


def validate(attributes: dict) -> tuple[dict, int]:
    """Validate message attributes; return them JSON-storable and their byte size.

    Input values: {"DataType": str, "StringValue": str} or {"DataType": str,
    "BinaryValue": bytes}. Stored: BinaryValue as base64 text.
    """
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise errors.InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
            f"[{MAX_MESSAGE_ATTRIBUTES}]."
        )
    stored: dict = {}
    size = 0
    for name, value in attributes.items():
        lowered = name.lower()
        if lowered.startswith(("aws.", "amazon.")) or name.startswith(".") or name.endswith("."):
            raise errors.InvalidParameterValue(
                "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. "
                "These strings are reserved for internal use. Additionally, they cannot start "
                "or end with '.'."
            )
        if not ATTRIBUTE_NAME_RE.match(name) or ".." in name:
            raise errors.InvalidParameterValue(
                f"Message (user) attribute name '{name}' is invalid. The attribute name can "
                "contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
            )
        data_type = (value or {}).get("DataType") or ""
        base_type = data_type.split(".", 1)[0]
        if base_type not in DATA_TYPES or len(data_type) > 256:
            raise errors.InvalidParameterValue(
                f"The type of message (user) attribute '{name}' is invalid. You must use "
                "only the following supported type prefixes: Binary, Number, String."
            )
        if base_type == "Binary":
            raw = value.get("BinaryValue")
            if not raw:
                raise errors.InvalidParameterValue(
                    f"Message (user) attribute '{name}' must contain a non-empty value of "
                    "type 'Binary'."
                )
            stored[name] = {"DataType": data_type, "BinaryValue": base64.b64encode(raw).decode()}
            size += len(name.encode()) + len(data_type.encode()) + len(raw)
            continue
        text = value.get("StringValue")
        if text is None or text == "":
            raise errors.InvalidParameterValue(
                f"Message (user) attribute '{name}' must contain a non-empty value of type "
                f"'{base_type}'."
            )
        if INVALID_CHARS.search(text):
            raise errors.InvalidParameterValue(
                f"Message (user) attribute '{name}' must contain valid characters."
            )
        if base_type == "Number":
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite():
                raise errors.InvalidParameterValue(
                    f"Can't cast the value of message (user) attribute '{name}' to a number."
                )
        stored[name] = {"DataType": data_type, "StringValue": text}
        size += len(name.encode()) + len(data_type.encode()) + len(text.encode())
    return stored, size
