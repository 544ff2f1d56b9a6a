"""Small display filters for the playground's pages (simulated time, AWS ids)."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from broker import arns
from broker.sqs import fifo
from playground.pages import common, dom

register = template.Library()


register.filter("simtime", common.simtime)


@register.filter
def epoch(value) -> str:
    """A float with millisecond precision, for `data-*` attributes read by JS."""
    if value in (None, ""):
        return ""
    return f"{float(value):.3f}"


@register.filter
def short_id(value, length: int = 8) -> str:
    text = str(value or "")
    return text[:length]


@register.filter
def short_handle(value) -> str:
    """A receipt handle shortened for people: AQEB…last 8 characters."""
    text = str(value or "")
    if len(text) <= 16:
        return text
    return f"{text[:4]}…{text[-8:]}"


@register.filter
def speed_label(value) -> str:
    number = float(value)
    return f"×{number:g}"


@register.filter
def key_params(params, limit: int = 4) -> list[tuple[str, str]]:
    """The few request parameters worth showing in the API feed, shortened."""
    if not isinstance(params, dict):
        return []
    skip = {"QueueUrl", "Action", "Version"}
    shown = []
    for name, value in params.items():
        if name in skip:
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if len(text) > 40:
            text = text[:39] + "…"
        shown.append((name, text))
        if len(shown) >= limit:
            break
    return shown


@register.filter
def attribute_value(value) -> str:
    if not isinstance(value, dict):
        return str(value)
    if "StringValue" in value:
        return value["StringValue"]
    return f"(binary, {len(value.get('BinaryValue', ''))} base64 chars)"


@register.filter
def short_error(code) -> str:
    """`AWS.SimpleQueueService.NonExistentQueue` → `NonExistentQueue` (full code in title)."""
    return str(code or "").rsplit(".", 1)[-1]


@register.filter
def sequence_number(message_pk) -> str:
    """A FIFO message's SequenceNumber, as the API returns it."""
    return fifo.sequence_number(int(message_pk))


@register.filter
def queue_name(arn) -> str:
    """The queue name at the end of a queue ARN."""
    return arns.queue_name(str(arn or ""))


@register.filter
def break_at_underscores(value) -> str:
    """An AWS constant (`SYMMETRIC_DEFAULT`) that may wrap after its underscores in a narrow cell."""
    return format_html_join(mark_safe("_<wbr>"), "{}", ((part,) for part in str(value).split("_")))


@register.filter
def node_id(resource) -> str:
    """The element id of a pipeline node (`playground/pages/dom.py`)."""
    return dom.node_id(resource)


@register.filter
def outcome_for(message, subscription_uuid):
    """A published message's outcome at one subscription (selectors.PublishedMessage)."""
    return message.outcomes.get(str(subscription_uuid))


def _plain(value: Decimal, *, min_places: int = 0) -> str:
    """A decimal in plain notation (no exponent), trailing zeros dropped down to
    `min_places` decimals, with thousands separators."""
    value = value.normalize()
    places = max(min_places, -value.as_tuple().exponent)
    return f"{value:,.{places}f}"


def _significant(value: Decimal, digits: int, *, min_places: int = 0) -> str:
    """`value` to `digits` significant digits once below 1 (0.0020833 → 0.0021), so a
    cost of a few requests still reads as more than $0.00."""
    if value >= 1 or value == 0:
        return _plain(value.quantize(Decimal(10) ** -max(min_places, 2)), min_places=min_places)
    places = digits - 1 - math.floor(value.log10())
    return _plain(value.quantize(Decimal(10) ** -places), min_places=min_places)


@register.filter
def dollars(value) -> str:
    """A cost: `$1,234.50`, `$0.40`, `$0.0021`, `$0.0000042`; "—" when not priced."""
    if value is None:
        return "—"
    value = Decimal(value)
    if value == 0:
        return "$0"
    return f"${_significant(value, 2, min_places=2)}"


@register.filter
def quantity(value) -> str:
    """A bill's quantity: `1,250` requests, `0.25` or `0.0039` GB-seconds."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return _significant(value, 3) if value < 1 else _plain(value.quantize(Decimal("0.001")))


_PER = {1: "", 10_000: "10,000 ", 100_000: "100,000 ", 1_000_000: "million "}


@register.filter
def unit_price(line) -> str:
    """How AWS quotes a line's price: "$0.40 per million requests", "free"."""
    if line.price is None:
        return "not priced (by country)"
    if line.price == 0:
        return "free"
    unit = line.unit.removesuffix("s") if line.per == 1 else line.unit
    return f"${_plain(line.quoted_price, min_places=2)} per {_PER[line.per]}{unit}"


@register.filter
def per_million_records(cost, batching) -> str:
    """A run's cost scaled to a million records: `$4.20`."""
    return dollars(batching.per_million_records(cost))
