"""The SQS query protocol (2012-11-05): `Action=…` form bodies or querystrings, XML answers.

Flattened, 1-based parameters (`protocols.md` §3.1) are turned into the same
shapes the JSON protocol carries (`Attribute.1.Name` → `Attributes` map,
`SendMessageBatchRequestEntry.2.MessageBody` → `Entries[1]`, …), so one set of
actions serves both. Results are rendered as the flattened XML of §3.2.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from django.http import HttpResponse

from broker import errors

XMLNS = "http://queue.amazonaws.com/doc/2012-11-05/"

# Flattened list members: query prefix -> JSON member.
LISTS = {
    "AttributeName": "AttributeNames",
    "MessageAttributeName": "MessageAttributeNames",
    "MessageSystemAttributeName": "MessageSystemAttributeNames",
    "TagKey": "TagKeys",
    "AWSAccountId": "AWSAccountIds",
    "ActionName": "Actions",
}
# Flattened maps: query prefix -> (JSON member, key element, value element).
MAPS = {
    "Attribute": ("Attributes", "Name", "Value"),
    "Tag": ("Tags", "Key", "Value"),
    "MessageAttribute": ("MessageAttributes", "Name", "Value"),
    "MessageSystemAttribute": ("MessageSystemAttributes", "Name", "Value"),
}
ENTRIES = {
    "SendMessageBatchRequestEntry",
    "DeleteMessageBatchRequestEntry",
    "ChangeMessageVisibilityBatchRequestEntry",
}
# XML element names of list items in results (the model's locationName).
LIST_ITEMS = {
    "QueueUrls": "QueueUrl",
    "queueUrls": "QueueUrl",
    "Messages": "Message",
    "Failed": "BatchResultErrorEntry",
    "Results": "ListMessageMoveTasksResultEntry",
}
MAP_ITEMS = {
    "Attributes": ("Attribute", "Name", "Value"),
    "Tags": ("Tag", "Key", "Value"),
    "MessageAttributes": ("MessageAttribute", "Name", "Value"),
}
# SQS's longest key has 6 (SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue),
# SNS's 8 (PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue).
MAX_PARTS = 10
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value) -> str:
    """Escape text for XML the way SQS does (`"` and CR too); drop impossible chars."""
    text = str(value)
    if _INVALID_XML.search(text):
        text = _INVALID_XML.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#xD;")
    )


# --- requests ------------------------------------------------------------------


def parse(body: bytes, query_string: str) -> dict[str, str]:
    """Querystring and form parameters (the body wins on a clash)."""
    params: dict[str, str] = {}
    for source in (query_string, body):
        if not source:
            continue
        try:
            text = source if isinstance(source, str) else source.decode("utf-8")
            pairs = parse_qsl(
                text,
                keep_blank_values=True,
                strict_parsing=False,
                errors="strict",
                max_num_fields=2000,
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise errors.MalformedRequest(f"The request could not be parsed: {exc}.") from None
        params.update(pairs)
    return params


def tree(flat: dict[str, str]) -> dict:
    """The flattened parameters as nested dicts, split at the dots."""
    root: dict = {}
    for key, value in flat.items():
        node = root
        parts = key.split(".", MAX_PARTS)
        if len(parts) > MAX_PARTS:
            raise errors.MalformedRequest(f"Parameter {key[:80]} has too many parts.")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise errors.MalformedRequest(f"Parameter {key} conflicts with another parameter.")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise errors.MalformedRequest(f"Parameter {key} conflicts with another parameter.")
        node[parts[-1]] = value
    return root


def _indexed(name: str, node) -> list:
    """Items of a 1-based flattened list, in index order."""
    if not isinstance(node, dict) or not all(k.isdigit() for k in node):
        raise errors.InvalidParameterValue(
            f"Parameter {name} must be given as {name}.N with N = 1, 2, …"
        )
    return [node[k] for k in sorted(node, key=int)]


def _shape(node: dict) -> dict:
    """Turn one level of the parameter tree into JSON-protocol members."""
    out: dict = {}
    for key, value in node.items():
        if key in LISTS:
            out[LISTS[key]] = _indexed(key, value)
        elif key in MAPS:
            member, key_name, value_name = MAPS[key]
            mapped = {}
            for item in _indexed(key, value):
                if not isinstance(item, dict) or key_name not in item:
                    raise errors.MissingParameter(
                        f"The request must contain the parameter {key}.N.{key_name}."
                    )
                if not isinstance(item[key_name], str):
                    raise errors.InvalidParameterValue(
                        f"Parameter {key}.N.{key_name} must be a single value."
                    )
                item_value = item.get(value_name, "")
                mapped[item[key_name]] = (
                    _shape(item_value) if isinstance(item_value, dict) else item_value
                )
            out[member] = mapped
        elif key in ENTRIES:
            out["Entries"] = [_shape(e) if isinstance(e, dict) else e for e in _indexed(key, value)]
        else:
            out[key] = _shape(value) if isinstance(value, dict) else value
    return out


def to_params(flat: dict[str, str], action: str) -> dict:
    params = _shape(tree(flat))
    if action == "CreateQueue" and "Tags" in params:
        params["tags"] = params.pop("Tags")  # lower-case in the model (sqs.md §10)
    return params


# --- responses -----------------------------------------------------------------


def _xml(value, name: str, action: str) -> str:
    if isinstance(value, list):
        item = LIST_ITEMS.get(name) or (f"{action}ResultEntry" if name == "Successful" else name)
        return "".join(_xml(v, item, action) for v in value)
    if isinstance(value, dict):
        if name in MAP_ITEMS:
            element, key_name, value_name = MAP_ITEMS[name]
            return "".join(
                f"<{element}><{key_name}>{xml_text(k)}</{key_name}>"
                f"{_xml(v, value_name, action)}</{element}>"
                for k, v in value.items()
            )
        inner = "".join(_xml(v, k, action) for k, v in value.items())
        return f"<{name}>{inner}</{name}>"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{xml_text(value)}</{name}>"


def render(action: str, result: dict, request_id: str) -> HttpResponse:
    inner = "".join(_xml(v, k, action) for k, v in result.items())
    body = (
        f'<?xml version="1.0"?><{action}Response xmlns="{XMLNS}">'
        + (f"<{action}Result>{inner}</{action}Result>" if result or _has_result(action) else "")
        + f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    response = HttpResponse(body, content_type="text/xml")
    response["x-amzn-RequestId"] = request_id
    return response


_WITH_RESULT = {
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "GetQueueAttributes",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibilityBatch",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "StartMessageMoveTask",
    "ListMessageMoveTasks",
    "CancelMessageMoveTask",
}


def _has_result(action: str) -> bool:
    return action in _WITH_RESULT
