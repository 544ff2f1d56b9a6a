"""Numbers in request text, read as AWS's services read them."""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"[+-]?[0-9]+")


def parse_int(text: str) -> int | None:
    """The integer `text` spells, or None: optional sign and ASCII digits, nothing else.

    Python's `int()` also takes `1_0`, surrounding blanks and other scripts' digits
    (`"٣"`), which AWS refuses.
    """
    if not _DECIMAL.fullmatch(text):
        return None
    return int(text)
