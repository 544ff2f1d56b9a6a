"""The SNS query protocol (2010-03-31): `Action=…&Version=2010-03-31`, XML answers.

Unlike SQS's, SNS's lists and maps are not flattened (`protocols.md` §4): lists are
`Name.member.N` (`Tags.member.1.Key`), attribute maps `Name.entry.N.key` / `.value`
(lower-case), message attributes `Name.entry.N.Name` / `.Value.DataType`. Parameters
become the shapes boto3's model names (lists, maps of strings); results are written
back the same way: a map as `<entry><key/><value/></entry>`, a list as `<member>`s.
"""

from __future__ import annotations

from django.http import HttpResponse

from broker import errors
from broker.api.query import tree, xml_text

XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


def _items(name: str, node) -> list:
    """The items of `member` / `entry` numbered 1, 2, …, in index order."""
    if not isinstance(node, dict) or not all(k.isdigit() for k in node):
        raise errors.SnsInvalidParameter(f"Invalid parameter: {name} must be numbered 1, 2, …")
    return [node[k] for k in sorted(node, key=int)]


def _shape(name: str, node):
    if not isinstance(node, dict):
        return node
    if set(node) == {"member"}:
        return [_shape(name, item) for item in _items(name, node["member"])]
    if set(node) == {"entry"}:
        mapped = {}
        for item in _items(name, node["entry"]):
            if not isinstance(item, dict):
                raise errors.SnsInvalidParameter(f"Invalid parameter: {name}")
            key, value = item.get("key", item.get("Name")), item.get("value", item.get("Value"))
            if not isinstance(key, str):
                raise errors.SnsInvalidParameter(f"Invalid parameter: {name}")
            if "key" in item:  # an attribute map: entry.N.key / entry.N.value
                if isinstance(value, dict):
                    raise errors.SnsInvalidParameter(f"Invalid parameter: {name}")
                mapped[key] = value if value is not None else ""
            else:  # message attributes: entry.N.Name / entry.N.Value.DataType …
                mapped[key] = _shape(name, value if isinstance(value, dict) else {})
        return mapped
    return {key: _shape(key, value) for key, value in node.items()}


def to_params(flat: dict[str, str], action: str) -> dict:
    return _shape("", tree(flat))


def _xml(name: str, value) -> str:
    if isinstance(value, dict):
        inner = "".join(
            f"<entry><key>{xml_text(k)}</key><value>{xml_text(v)}</value></entry>"
            for k, v in value.items()
        )
    elif isinstance(value, list):
        inner = "".join(
            "<member>"
            + (
                "".join(_xml(k, v) for k, v in item.items())
                if isinstance(item, dict)
                else xml_text(item)
            )
            + "</member>"
            for item in value
        )
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = xml_text(value)
    return f"<{name}>{inner}</{name}>"


# The actions whose model has no output shape: their answer has no Result element.
NO_RESULT = {
    "DeleteTopic",
    "SetTopicAttributes",
    "AddPermission",
    "RemovePermission",
    "Unsubscribe",
    "SetSubscriptionAttributes",
}


def render(action: str, result: dict, request_id: str) -> HttpResponse:
    """`<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…` (no Result
    element where the action answers nothing: DeleteTopic, SetTopicAttributes, …)."""
    inner = "".join(_xml(k, v) for k, v in result.items() if v is not None)
    body = (
        f'<?xml version="1.0"?><{action}Response xmlns="{XMLNS}">'
        + ("" if action in NO_RESULT else f"<{action}Result>{inner}</{action}Result>")
        + f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    response = HttpResponse(body, content_type="text/xml")
    response["x-amzn-RequestId"] = request_id
    return response
