"""The fuzz tests' budget and settings: seeded, so every run sends the same input.

`PLAYGROUND_FUZZ_EXAMPLES` sets the examples per protocol (60 in the suite;
`bench/fuzz.py` runs thousands).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("PLAYGROUND_FUZZ_EXAMPLES", "60"))


def seeded(max_examples: int) -> settings:
    """Hypothesis settings for `max_examples` derandomized examples, with no example
    database and no deadline (the live server's first answers are slow)."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
