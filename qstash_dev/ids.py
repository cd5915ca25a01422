"""Identifiers in Upstash's style: `msg_…`, `scd_…`, and DLQ ids like `1725323658779-…`."""

from __future__ import annotations

import secrets
import string
import time

__all__ = ["message_id", "schedule_id", "dlq_id"]

_ALPHABET = string.ascii_letters + string.digits


def _random(length: int) -> str:
    """A random alphanumeric string."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def message_id() -> str:
    """A new message id."""
    return "msg_" + _random(26)


def schedule_id() -> str:
    """A new schedule id."""
    return "scd_" + _random(26)


def dlq_id() -> str:
    """A new DLQ id: the time in milliseconds and a random suffix, as Upstash's look."""
    return f"{int(time.time() * 1000)}-{secrets.randbelow(10**9)}"
