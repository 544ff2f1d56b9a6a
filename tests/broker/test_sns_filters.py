"""Filter policies as a table: (policy, message, passes?), every operator and both scopes,
and the policies SNS refuses, with its texts (sns.md §5)."""

from __future__ import annotations

import json

import pytest

from broker.sns import filters


def attrs(**values) -> dict:
    """Message attributes: str -> String, int/float -> Number, list -> String.Array."""
    out = {}
    for name, value in values.items():
        if isinstance(value, list):
            out[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        elif isinstance(value, int | float):
            out[name] = {"DataType": "Number", "StringValue": str(value)}
        elif isinstance(value, bytes):
            out[name] = {"DataType": "Binary", "BinaryValue": value}
        else:
            out[name] = {"DataType": "String", "StringValue": value}
    return out


ATTRIBUTE_CASES = [
    # exact strings and numbers, OR within a key, AND across keys
    ({"sport": ["rugby", "tennis"]}, attrs(sport="rugby"), True),
    ({"sport": ["rugby", "tennis"]}, attrs(sport="golf"), False),
    ({"sport": ["rugby"]}, attrs(sport="Rugby"), False),
    ({"price": [300]}, attrs(price=300.0), True),
    ({"price": [300]}, attrs(price="300"), False),  # a String attribute is no number
    ({"sport": ["rugby"], "price": [300]}, attrs(sport="rugby"), False),
    ({"sport": ["rugby"]}, attrs(sport="rugby", other="x"), True),
    # String.Array: any element
    ({"sport": ["rugby"]}, attrs(sport=["soccer", "rugby"]), True),
    ({"sport": ["rugby"]}, attrs(sport=["soccer"]), False),
    # prefix, suffix, equals-ignore-case
    ({"event": [{"prefix": "order-"}]}, attrs(event="order-placed"), True),
    ({"event": [{"prefix": "order-"}]}, attrs(event="payment"), False),
    ({"file": [{"suffix": ".png"}]}, attrs(file="cat.png"), True),
    ({"file": [{"suffix": ".png"}]}, attrs(file="cat.jpg"), False),
    ({"name": [{"equals-ignore-case": "ALICE"}]}, attrs(name="alice"), True),
    # anything-but: values, a single value, numbers, prefix; absent never passes
    ({"sport": [{"anything-but": ["rugby", "tennis"]}]}, attrs(sport="golf"), True),
    ({"sport": [{"anything-but": ["rugby", "tennis"]}]}, attrs(sport="rugby"), False),
    ({"sport": [{"anything-but": "rugby"}]}, attrs(sport="golf"), True),
    ({"price": [{"anything-but": [100, 200]}]}, attrs(price=150), True),
    ({"price": [{"anything-but": [100, 200]}]}, attrs(price=100), False),
    ({"event": [{"anything-but": {"prefix": "order-"}}]}, attrs(event="payment"), True),
    ({"event": [{"anything-but": {"prefix": "order-"}}]}, attrs(event="order-1"), False),
    ({"sport": [{"anything-but": "rugby"}]}, attrs(), False),
    # numeric ranges and equality
    ({"price": [{"numeric": [">", 0, "<=", 150]}]}, attrs(price=150), True),
    ({"price": [{"numeric": [">", 0, "<=", 150]}]}, attrs(price=151), False),
    ({"price": [{"numeric": [">", 0, "<=", 150]}]}, attrs(price=0), False),
    ({"price": [{"numeric": ["=", 301.5]}]}, attrs(price=301.5), True),
    ({"price": [{"numeric": [">=", 10]}]}, attrs(price="12"), False),
    # exists
    ({"store": [{"exists": True}]}, attrs(store="x"), True),
    ({"store": [{"exists": True}]}, attrs(), False),
    ({"store": [{"exists": False}]}, attrs(), True),
    ({"store": [{"exists": False}]}, attrs(store="x"), False),
    # cidr, IPv4 and IPv6
    ({"source": [{"cidr": "10.0.0.0/24"}]}, attrs(source="10.0.0.255"), True),
    ({"source": [{"cidr": "10.0.0.0/24"}]}, attrs(source="10.0.1.1"), False),
    ({"source": [{"cidr": "2001:db8::/32"}]}, attrs(source="2001:db8::1"), True),
    ({"source": [{"cidr": "10.0.0.0/24"}]}, attrs(source="not an ip"), False),
    # $or
    ({"$or": [{"sport": ["rugby"]}, {"price": [{"numeric": [">", 100]}]}]}, attrs(price=101), True),
    ({"$or": [{"sport": ["rugby"]}, {"price": [{"numeric": [">", 100]}]}]}, attrs(price=99), False),
    # Binary attributes are not looked at
    ({"blob": [{"exists": True}]}, attrs(blob=b"\x00"), False),
]


@pytest.mark.parametrize(("policy", "attributes", "expected"), ATTRIBUTE_CASES)
def test_a_policy_on_message_attributes(policy, attributes, expected):
    filters.parse(json.dumps(policy))
    verdict = filters.evaluate(policy, scope="MessageAttributes", attributes=attributes, message="")
    assert verdict.matched is expected, verdict.why


BODY = {
    "order": {"id": "o-1", "total": 120.5, "items": ["book", "pen"], "gift": False},
    "customer": {"tier": "gold", "address": {"country": "NL"}},
    "note": None,
}
BODY_CASES = [
    ({"order": {"total": [{"numeric": [">", 100]}]}}, True),
    ({"order": {"total": [{"numeric": ["<", 100]}]}}, False),
    ({"customer": {"address": {"country": ["NL", "BE"]}}}, True),
    ({"order": {"items": ["pen"]}}, True),
    ({"order": {"gift": [False]}}, True),
    ({"order": {"gift": [True]}}, False),
    ({"note": [None]}, True),
    ({"order": {"coupon": [{"exists": False}]}}, True),
    ({"customer": {"tier": ["silver"]}}, False),
    ({"$or": [{"customer": {"tier": ["silver"]}}, {"order": {"id": [{"prefix": "o-"}]}}]}, True),
]


@pytest.mark.parametrize(("policy", "expected"), BODY_CASES)
def test_a_policy_on_the_message_body(policy, expected):
    filters.parse(json.dumps(policy), scope="MessageBody")
    verdict = filters.evaluate(policy, scope="MessageBody", attributes={}, message=json.dumps(BODY))
    assert verdict.matched is expected, verdict.why


def test_a_body_that_is_not_json_passes_no_body_policy():
    verdict = filters.evaluate(
        {"a": ["b"]}, scope="MessageBody", attributes={}, message="plain text"
    )
    assert verdict == filters.Verdict(
        False, "the message is not JSON, and the policy reads its body"
    )


def test_a_verdict_says_why_not():
    verdict = filters.evaluate(
        {"price": [{"numeric": [">", 100]}]},
        scope="MessageAttributes",
        attributes=attrs(price=12),
        message="",
    )
    assert verdict.why == '`price` is 12.0, the policy wants [{"numeric": [">", 100]}]'


REFUSED = [
    ('{"a": ["b"', "MessageAttributes", "failed to parse JSON."),
    ('{"a": "b"}', "MessageAttributes", '"a" must be an object or an array'),
    ('{"a": []}', "MessageAttributes", "Empty arrays are not allowed"),
    (
        '{"a": [["b"]]}',
        "MessageAttributes",
        "Match value must be String, number, true, false, or null",
    ),
    (
        '{"a": [{"prefix": "x", "suffix": "y"}]}',
        "MessageAttributes",
        "Only one key allowed in match expression",
    ),
    ('{"a": [{"wildcard": "x*"}]}', "MessageAttributes", "Unrecognized match type wildcard"),
    ('{"a": [{"suffix": 1}]}', "MessageAttributes", "suffix match pattern must be a string"),
    (
        '{"a": [{"exists": "yes"}]}',
        "MessageAttributes",
        "exists match pattern must be either true or false.",
    ),
    (
        '{"a": [{"anything-but": {"suffix": "x"}}]}',
        "MessageAttributes",
        "Unsupported anything-but pattern: suffix",
    ),
    ('{"a": [{"numeric": [">", "x"]}]}', "MessageAttributes", "Value of > must be numeric"),
    (
        '{"a": [{"numeric": ["<", 5, ">", 1]}]}',
        "MessageAttributes",
        "Bad numeric range operator: <",
    ),
    ('{"a": [{"numeric": [">", 5, "<", 1]}]}', "MessageAttributes", "Bottom must be less than top"),
    (
        '{"a": [{"numeric": [">", 1, "<", 5, "=", 3]}]}',
        "MessageAttributes",
        "Too many elements in numeric expression",
    ),
    (
        '{"a": [{"numeric": ["~", 1]}]}',
        "MessageAttributes",
        "Unrecognized numeric range operator: ~",
    ),
    ('{"a": [{"numeric": ["=", "x"]}]}', "MessageAttributes", "Value of equals must be numeric"),
    ('{"a": [{"cidr": "10.0.0.0"}]}', "MessageAttributes", "Malformed CIDR, one '/' required"),
    (
        '{"a": [{"cidr": "10.0.0.0/x"}]}',
        "MessageAttributes",
        "Malformed CIDR, mask bits must be an integer",
    ),
    ('{"a": [{"cidr": "10.0.0/8"}]}', "MessageAttributes", "Nonstandard IP address: 10.0.0"),
    (
        '{"a": {"b": ["c"]}}',
        "MessageAttributes",
        "Filter policy scope MessageAttributes does not support nested filter policy",
    ),
    (
        '{"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]}',
        "MessageAttributes",
        "Filter policy can not have more than 5 keys",
    ),
]


@pytest.mark.parametrize(("text", "scope", "message"), REFUSED)
def test_sns_refuses_the_policies_it_refuses_with_its_words(text, scope, message):
    with pytest.raises(filters.PolicyError) as caught:
        filters.parse(text, scope=scope)
    assert str(caught.value).startswith(message)


def test_combinations_of_or_branches_add_up_to_at_most_150():
    def policy(spaces: int) -> dict:
        # AWS's own example (sns.md §5.5): 4*6 + 4*4*4 + 4*4*spaces combinations.
        return {
            "source": list("abcd"),
            "$or": [
                {"metricName": list("abcdef")},
                {
                    "metricType": list("abcd"),
                    "$or": [{"metricId": list("abcd")}, {"spaceId": list("abcdefgh")[:spaces]}],
                },
            ],
        }

    filters.parse(json.dumps(policy(3)))  # 24 + 64 + 48 = 136
    with pytest.raises(filters.PolicyError, match="Filter policy is too complex"):
        filters.parse(json.dumps(policy(4)))  # 24 + 64 + 64 = 152


def test_a_policy_nested_beyond_reason_is_too_complex_not_a_crash():
    deep = '{"a": ' * 5000 + '["x"]' + "}" * 5000
    with pytest.raises(filters.PolicyError, match="too complex"):
        filters.parse(deep, scope="MessageBody")


def test_many_or_branches_are_refused_before_they_are_all_expanded():
    policy = {"a": ["1"]}
    for _ in range(12):  # 4,096 branches, were they all expanded
        policy = {"$or": [policy, policy]}
    with pytest.raises(filters.PolicyError, match="too complex"):
        filters.parse(json.dumps(policy))
