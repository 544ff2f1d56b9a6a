"""Queue tags: what TagQueue, UntagQueue and CreateQueue's `tags` accept (sqs.md §10).

A key is 1–128 characters, a value at most 256, both of Unicode letters, digits, spaces
and `_ . : / = + - @`; `aws:` keys are AWS's own; a queue holds at most 50 tags. The
texts are moto's where it has one (AWS's own are not recorded).
"""

from __future__ import annotations

import unicodedata

from broker import errors

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
_PUNCTUATION = set("_.:/=+-@")


def _allowed(text: str) -> bool:
    return all(c in _PUNCTUATION or c.isspace() or unicodedata.category(c)[0] in "LN" for c in text)


def check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY:
        raise errors.InvalidParameterValue(
            f"Tag keys must be between 1 and {MAX_KEY} characters in length.", field="tags"
        )
    if key.lower().startswith("aws:"):
        raise errors.InvalidParameterValue(
            f"Tag key {key} is invalid. Reason: The prefix aws: is reserved for AWS use.",
            field="tags",
        )
    if not _allowed(key):
        raise errors.InvalidParameterValue(
            f"Tag key {key} is invalid. Reason: A tag key can contain only Unicode letters, "
            "digits, white space and the characters _ . : / = + - @.",
            field="tags",
        )


def check_value(key: str, value: str) -> None:
    if len(value) > MAX_VALUE:
        raise errors.InvalidParameterValue(
            f"Tag values must be less than {MAX_VALUE} characters in length.", field="tags"
        )
    if not _allowed(value):
        raise errors.InvalidParameterValue(
            f"Tag value {value} of key {key} is invalid. Reason: A tag value can contain only "
            "Unicode letters, digits, white space and the characters _ . : / = + - @.",
            field="tags",
        )


def merged(queue_name: str, current: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """`current` with `new` applied, once every new tag is valid and the total fits."""
    for key, value in new.items():
        check_key(key)
        check_value(key, value)
    tags = {**current, **new}
    if len(tags) > MAX_TAGS:
        raise errors.InvalidParameterValue(
            f"Too many tags added for queue {queue_name}.", field="tags"
        )
    return tags


def check_keys(keys: list[str]) -> None:
    for key in keys:
        if not 1 <= len(key) <= MAX_KEY:
            raise errors.InvalidParameterValue(
                f"Tag keys must be between 1 and {MAX_KEY} characters in length.", field="tags"
            )
