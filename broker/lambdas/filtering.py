"""A trigger's FilterCriteria (lambda-sqs.md §1): up to five patterns in the grammar
SNS's filter policies share, read against each record as JSON with its body parsed
when it is JSON. Records no pattern matches are deleted, never delivered.
"""

from __future__ import annotations

import json

from broker import errors
from broker.sns import filters

MAX_FILTERS = 5
MAX_PATTERN = 4096


def patterns(filter_criteria: dict) -> list[dict]:
    """The patterns of `{"Filters": [{"Pattern": "<json>"}]}`, parsed;
    InvalidParameterValueException as AWS words it for one that is not valid."""
    invalid = errors.InvalidParameterValueException(
        "Invalid filter pattern definition.", field="filter_criteria"
    )
    found = filter_criteria.get("Filters") if isinstance(filter_criteria, dict) else None
    if not isinstance(found, list) or len(found) > MAX_FILTERS:
        raise invalid
    parsed = []
    for item in found:
        text = item.get("Pattern") if isinstance(item, dict) else None
        if not isinstance(text, str) or len(text) > MAX_PATTERN:
            raise invalid
        try:
            parsed.append(filters.parse(text, scope="MessageBody"))
        except filters.PolicyError:
            raise invalid from None
    return parsed


def split(records: list[dict], filter_criteria: dict | None) -> tuple[list, list]:
    """(the records the criteria let through, the others); all pass without criteria."""
    if not filter_criteria:
        return records, []
    wanted = patterns(filter_criteria)
    kept, dropped = [], []
    for record in records:
        try:
            body = json.loads(record["body"])
        except (ValueError, RecursionError):
            body = record["body"]
        document = {**record, "body": body}
        if any(filters.match(pattern, document).matched for pattern in wanted):
            kept.append(record)
        else:
            dropped.append(record)
    return kept, dropped
