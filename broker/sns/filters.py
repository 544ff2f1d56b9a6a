"""Subscription filter policies: AWS's validation, with its texts, and matching (sns.md §5).

A policy is a JSON object. Every key must match (AND); a key's array of conditions
matches when any does (OR); `"$or": [{…}, {…}]` matches when any of its policies does.
With FilterPolicyScope=MessageAttributes the keys are message attribute names (String,
String.Array and Number attributes; Binary ones are ignored) and policies cannot nest;
with MessageBody the keys are properties of the published message, read as JSON, and
nested objects follow nested properties. A value that is an array (a String.Array
attribute, a JSON array) matches when any element does.

Conditions: exact strings, numbers, true, false and null; {"prefix"}, {"suffix"},
{"equals-ignore-case"}, {"anything-but": value, [values] or {"prefix"}}, {"numeric":
["=", n] or a range like [">", 0, "<=", 150]}, {"exists": true|false} and {"cidr"}.
Limits: 5 keys and 150 combinations per branch of `$or` (the combinations of all its
branches add up).
"""

from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_KEYS = 5
MAX_COMBINATIONS = 150
NUMBER_LIMIT = 1_000_000_000
OPERATORS = ("prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "cidr")
LOWER = (">", ">=")
UPPER = ("<", "<=")
ABSENT = object()


class PolicyError(ValueError):
    """What is wrong with a policy, in AWS's words (the caller adds its prefix)."""


@dataclass(frozen=True)
class Verdict:
    matched: bool
    why: str = ""  # why not, for the learner: "`price` is 12, the policy wants [...]"


# --- validation --------------------------------------------------------------------


def parse(text: str, *, scope: str = "MessageAttributes") -> dict:
    """The policy as an object; PolicyError with AWS's text when SNS would refuse it."""
    try:
        policy = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"failed to parse JSON. {exc}") from None
    except RecursionError:
        raise PolicyError("Filter policy is too complex") from None
    if not isinstance(policy, dict):
        raise PolicyError("Filter policy must be a JSON object")
    try:
        branches = _branches(policy, nested=scope == "MessageBody")
    except RecursionError:  # nested deeper than any real policy
        raise PolicyError("Filter policy is too complex") from None
    combinations = 0
    for keys, product in branches:
        if keys > MAX_KEYS:
            raise PolicyError("Filter policy can not have more than 5 keys")
        combinations += product
    if combinations > MAX_COMBINATIONS:
        raise PolicyError("Filter policy is too complex")
    return policy


def _branches(policy: dict, *, nested: bool) -> list[tuple[int, int]]:
    """(leaf keys, combinations) of each branch the policy's `$or`s expand into."""
    branches = [(0, 1)]
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PolicyError("$or must be an array of at least 2 filter policies")
            alternatives = []
            for sub in value:
                if not isinstance(sub, dict):
                    raise PolicyError("$or must be an array of at least 2 filter policies")
                alternatives += _branches(sub, nested=nested)
        elif isinstance(value, dict):
            if not nested:
                raise PolicyError(
                    "Filter policy scope MessageAttributes does not support nested filter policy"
                )
            alternatives = _branches(value, nested=nested)
        elif isinstance(value, list):
            _check_conditions(key, value)
            alternatives = [(1, len(value))]
        else:
            raise PolicyError(f'"{key}" must be an object or an array')
        branches = [(k1 + k2, p1 * p2) for k1, p1 in branches for k2, p2 in alternatives]
        if len(branches) > MAX_COMBINATIONS:  # each branch is one combination at least
            raise PolicyError("Filter policy is too complex")
    return branches


def _check_conditions(key: str, conditions: list) -> None:
    if not conditions:
        raise PolicyError("Empty arrays are not allowed")
    for condition in conditions:
        if isinstance(condition, dict):
            _check_expression(condition)
        elif isinstance(condition, list):
            raise PolicyError("Match value must be String, number, true, false, or null")
        elif isinstance(condition, int | float) and not isinstance(condition, bool):
            _check_number(condition)


def _check_number(value) -> None:
    if abs(value) > NUMBER_LIMIT:
        raise PolicyError(f"Numeric value must be between -10^9 and 10^9: {value}")


def _check_expression(expression: dict) -> None:
    if len(expression) != 1:
        raise PolicyError("Only one key allowed in match expression")
    [(operator, value)] = expression.items()
    if operator not in OPERATORS:
        raise PolicyError(f"Unrecognized match type {operator}")
    if operator in ("prefix", "suffix", "equals-ignore-case") and not isinstance(value, str):
        raise PolicyError(f"{operator} match pattern must be a string")
    if operator == "exists" and not isinstance(value, bool):
        raise PolicyError("exists match pattern must be either true or false.")
    if operator == "anything-but":
        _check_anything_but(value)
    if operator == "numeric":
        _numeric_range(value)
    if operator == "cidr":
        _network(value)


def _check_anything_but(value) -> None:
    if isinstance(value, dict):
        if len(value) != 1:
            raise PolicyError("Only one key allowed in match expression")
        [(inner, pattern)] = value.items()
        if inner != "prefix":
            raise PolicyError(f"Unsupported anything-but pattern: {inner}")
        if not isinstance(pattern, str):
            raise PolicyError("prefix match pattern must be a string")
        return
    values = value if isinstance(value, list) else [value]
    if not values:
        raise PolicyError("Empty arrays are not allowed")
    for item in values:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise PolicyError("Match value must be String, number, true, false, or null")


def _numeric_range(terms) -> list[tuple[str, float]]:
    """[(operator, bound), …]: one `=`, or one or two bounds, bottom below top."""
    if not isinstance(terms, list) or not terms:
        raise PolicyError("Invalid member in numeric match: ]")
    if len(terms) > 4:
        raise PolicyError("Too many elements in numeric expression")
    if len(terms) % 2:
        operator = terms[-1]
        raise PolicyError(f"Value of {operator} must be numeric")
    pairs = []
    for i in range(0, len(terms), 2):
        operator, bound = terms[i], terms[i + 1]
        if operator not in ("=", *LOWER, *UPPER):
            raise PolicyError(f"Unrecognized numeric range operator: {operator}")
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            if operator == "=":
                raise PolicyError("Value of equals must be numeric")
            raise PolicyError(f"Value of {operator} must be numeric")
        _check_number(bound)
        pairs.append((operator, float(bound)))
    if pairs[0][0] == "=":
        if len(pairs) > 1:
            raise PolicyError("Too many terms in numeric range expression")
        return pairs
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        if low_op not in LOWER or high_op not in UPPER:
            raise PolicyError(
                f"Bad numeric range operator: {high_op if low_op in LOWER else low_op}"
            )
        if not low < high:
            raise PolicyError("Bottom must be less than top")
    return pairs


def _network(value):
    if not isinstance(value, str) or value.count("/") != 1:
        raise PolicyError("Malformed CIDR, one '/' required")
    address, bits = value.split("/")
    if not bits.isdigit():
        raise PolicyError("Malformed CIDR, mask bits must be an integer")
    try:
        return ipaddress.ip_network(f"{address}/{bits}", strict=False)
    except ValueError:
        raise PolicyError(f"Nonstandard IP address: {address}") from None


# --- matching ----------------------------------------------------------------------


def evaluate(policy: dict, *, scope: str, attributes: dict, message: str) -> Verdict:
    """Whether a published message passes the policy, and if not, why not."""
    if scope == "MessageBody":
        try:
            document = json.loads(message)
        except (ValueError, RecursionError):
            return Verdict(False, "the message is not JSON, and the policy reads its body")
        if not isinstance(document, dict):
            return Verdict(False, "the message is not a JSON object, and the policy reads its body")
        return _match(policy, document)
    return _match(policy, {name: _attribute_values(v) for name, v in attributes.items()})


def _attribute_values(value: dict):
    data_type = value.get("DataType", "")
    if data_type.startswith("Binary"):
        return ABSENT
    text = value.get("StringValue", "")
    if data_type.startswith("Number"):
        try:
            return float(Decimal(text))
        except InvalidOperation:
            return ABSENT
    if data_type == "String.Array":
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            return ABSENT
        return items if isinstance(items, list) else ABSENT
    return text


def match(policy: dict, document: dict) -> Verdict:
    """Whether a JSON document passes a MessageBody-scope policy (Lambda's
    FilterCriteria read records with the same grammar)."""
    return _match(policy, document)


def _match(policy: dict, document: dict) -> Verdict:
    for key, wanted in policy.items():
        if key == "$or":
            verdicts = [_match(sub, document) for sub in wanted]
            if not any(v.matched for v in verdicts):
                return Verdict(False, " and ".join(v.why for v in verdicts))
            continue
        value = document.get(key, ABSENT) if isinstance(document, dict) else ABSENT
        if isinstance(wanted, dict):
            if not isinstance(value, dict):
                return Verdict(False, f"`{key}` is not an object in the message")
            verdict = _match(wanted, value)
            if not verdict.matched:
                return verdict
            continue
        if not _any_condition(wanted, value):
            shown = "absent" if value is ABSENT else f"{json.dumps(value)}"
            return Verdict(False, f"`{key}` is {shown}, the policy wants {json.dumps(wanted)}")
    return Verdict(True)


def _any_condition(conditions: list, value) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_holds(c, v) for c in conditions for v in values) or (
        value is ABSENT and any(c == {"exists": False} for c in conditions)
    )


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _holds(condition, value) -> bool:
    if value is ABSENT:
        return False
    if not isinstance(condition, dict):
        if isinstance(condition, bool) or condition is None or isinstance(value, bool):
            return condition is value or (condition == value and type(condition) is type(value))
        if isinstance(condition, str):
            return isinstance(value, str) and value == condition
        number = _number(value)
        return number is not None and number == float(condition)
    [(operator, pattern)] = condition.items()
    if operator == "exists":
        return pattern is True
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(pattern)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(pattern)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == pattern.lower()
    if operator == "anything-but":
        if isinstance(pattern, dict):
            return isinstance(value, str) and not value.startswith(pattern["prefix"])
        excluded = pattern if isinstance(pattern, list) else [pattern]
        return not any(_holds(item, value) for item in excluded)
    if operator == "numeric":
        number = _number(value)
        if number is None:
            return False
        return all(_compare(number, op, bound) for op, bound in _numeric_range(pattern))
    if operator == "cidr":
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in _network(pattern)
        except ValueError:
            return False
    return False


def _compare(number: float, operator: str, bound: float) -> bool:
    return {
        "=": number == bound,
        ">": number > bound,
        ">=": number >= bound,
        "<": number < bound,
        "<=": number <= bound,
    }[operator]
