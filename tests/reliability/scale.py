"""How hard the reliability and security suites push: a short local run, the full one in CI.

`.ci/run` sets STEPWISE_RELIABILITY=full; without it every load, fuzz and fault test runs its
small version (five other engineers share these cores), measuring the same things.
"""
from __future__ import annotations

import os

FULL = os.environ.get("STEPWISE_RELIABILITY") == "full"


def scaled(local: int, full: int) -> int:
    """`full` in CI, `local` otherwise."""
    return full if FULL else local
