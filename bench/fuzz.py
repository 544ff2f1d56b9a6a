#!/usr/bin/env python
"""The suite's fuzz tests with a larger budget: every action of every service in each
protocol, and every form of the UI, with made-up input.

Not part of `make test` (which runs the same tests with 60 examples per protocol):

    .venv/bin/python bench/fuzz.py              # 2,000 per protocol, about 8 minutes
    .venv/bin/python bench/fuzz.py --examples 500

Seeded like the suite (hypothesis `derandomize`): a larger budget explores further along
the same sequence. Prints pytest's summary and the wall time; exits as pytest does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/broker/api/test_fuzz_every_action.py", "tests/playground/test_fuzz_forms.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    env = {**os.environ, "PLAYGROUND_FUZZ_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *TESTS], cwd=ROOT, env=env
    )
    forms = max(args.examples // 6, 4)
    print(
        f"\n{args.examples:,} made-up requests per protocol (5 protocols), {forms:,} per form:"
        f" {time.monotonic() - started:.0f} s, pytest exit code {result.returncode}"
    )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
