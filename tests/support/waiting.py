"""Waiting for a positive signal instead of sleeping a fixed time.

    run = eventually(lambda: stack.run(run_id), until=lambda r: r["status"] == "completed",
                     what=f"run {run_id} to complete")

A check that something did NOT happen first waits like this for something that comes after it
(the next step ran, a later message arrived), then asserts; never after a bare `time.sleep`.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


def eventually(probe: Callable[[], T], until: Callable[[T], object] = bool, *, timeout: float = 10,
               interval: float = 0.05, what: str = "the condition") -> T:
    """Call `probe` until `until(value)` holds and return that value; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}; last seen: {str(value)[:2000]}")
        time.sleep(interval)
