"""What a QStash consumer answers (docs/architecture.md, *The step lifecycle*, Errors).

The whole reply vocabulary lives here, as `qstash_dev/web.py` keeps the server's: a 200 that
QStash counts as delivered, a 409 or 503 with `Retry-After` that it retries, and a 489 with
`Upstash-NonRetryable-Error` that sends the message to the DLQ at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """What the consumer answers QStash: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def ok(message: str, **extra: Any) -> Reply:
    """200: delivered; `message` says what happened."""
    return Reply(200, {"status": message, **extra})


def non_retryable(message: str) -> Reply:
    """489 + Upstash-NonRetryable-Error: QStash moves the message to the DLQ at once."""
    return Reply(489, {"error": message}, {"Upstash-NonRetryable-Error": "true"})


def retry_later(message: str, retry_after: float | None = None, **body: Any) -> Reply:
    """503: QStash retries with backoff, no sooner than `retry_after` seconds when given."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else {}
    return Reply(503, {"error": message, **body}, headers)


def busy(message: str, retry_after: float) -> Reply:
    """409 + Retry-After: another attempt holds the step; try again when its lease ends."""
    return Reply(409, {"error": message}, {"Retry-After": str(max(1, math.ceil(retry_after)))})


def unpublished(status: str, problem: str) -> Reply:
    """503: the step is `status`, but the message after it did not reach QStash (`problem` says
    why: unreachable, unavailable or refused); the redelivery publishes it again, as does the sweep."""
    return retry_later(f"step {status}, but the message after it was not published: {problem}; it is "
                       "published again on redelivery or by the sweep", 5, status=status)
