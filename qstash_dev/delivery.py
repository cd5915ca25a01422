"""One delivery attempt: send it signed, decide what happens next, record it.

The signature is made when the attempt is sent, so a delayed or retried message
never arrives with a token that expired while it waited.
"""

from __future__ import annotations

import email.utils
import logging
import time

from . import ids, messages
from .callbacks import followups
from .config import Config
from .db import Database
from .messages import Attempt, Outcome, Response
from .options import canonical_header
from .retry_delay import MAX_DELAY_SECONDS, default_backoff, evaluate_ms
from .signing import sign
from .transport import Transport, TransportError

__all__ = ["Deliverer", "decide", "retry_delay_seconds"]

log = logging.getLogger("qstash_dev")

MAX_RECORDED_BODY = 1024 * 1024  # bytes of a response kept for the DLQ and callbacks


def _retry_after(response: Response) -> float | None:
    """A Retry-After header in seconds (delta or HTTP date), capped at one day."""
    value = next((v for k, v in response.headers if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(MAX_DELAY_SECONDS, max(0.0, seconds))


def retry_delay_seconds(attempt: Attempt, response: Response, scale: float) -> float:
    """Seconds until the next attempt: Retry-After, else the expression, else the scaled backoff."""
    retry_after = _retry_after(response)
    if retry_after is not None:
        return retry_after  # the destination said when; honoured as given, not scaled
    if attempt.retry_delay:
        try:
            return min(MAX_DELAY_SECONDS, evaluate_ms(attempt.retry_delay, attempt.retried) / 1000)
        except ValueError:
            pass  # validated at publish; fall back to the default if it still fails
    return default_backoff(attempt.retried + 1) * scale


def decide(attempt: Attempt, response: Response, now: float, scale: float) -> Outcome:
    """Delivered, retry later, or failed (to the DLQ), with the callbacks that follow."""
    if 200 <= response.status < 300:
        return Outcome("delivered", response, followups=followups(attempt, response, failed=False, dlq_id=None))
    non_retryable = response.status == 489 and any(
        k.lower() == "upstash-nonretryable-error" and v.strip().lower() == "true" for k, v in response.headers)
    if not non_retryable and attempt.retried < attempt.max_retries:
        next_at = now + retry_delay_seconds(attempt, response, scale)
        return Outcome("retry", response, next_attempt_at=next_at,
                       followups=followups(attempt, response, failed=False, dlq_id=None))
    dlq_id = ids.dlq_id()
    return Outcome("failed", response, dlq_id=dlq_id,
                   followups=followups(attempt, response, failed=True, dlq_id=dlq_id))


class Deliverer:
    """Makes attempts and records their outcomes."""

    def __init__(self, db: Database, config: Config) -> None:
        self._db = db
        self._config = config
        self._transport = Transport(max_body=MAX_RECORDED_BODY)

    def _headers(self, attempt: Attempt) -> list[tuple[str, str]]:
        """Forwarded headers plus Upstash's own; Upstash's win a clash."""
        row = attempt.row
        own = [
            ("User-Agent", "Upstash-QStash"),
            ("Upstash-Message-Id", attempt.id),
            ("Upstash-Retried", str(attempt.retried)),
            ("Upstash-Caller-Ip", row["caller_ip"] or "127.0.0.1"),
            *([("Upstash-Schedule-Id", row["schedule_id"])] if row["schedule_id"] else []),
            ("Upstash-Signature", sign(self._config.current_signing_key, attempt.url, attempt.body)),
        ]
        taken = {name.lower() for name, _ in own} | {"host", "content-length", "connection", "transfer-encoding"}
        return [(n, v) for n, v in attempt.headers if n.lower() not in taken] + own

    def send(self, attempt: Attempt) -> Response:
        """Make the HTTP request; no response at all becomes status 0."""
        timeout = attempt.timeout or self._config.default_timeout
        try:
            reply = self._transport.request(attempt.method, attempt.url, self._headers(attempt), attempt.body,
                                            timeout)
        except TransportError as exc:
            return Response(0, error=str(exc))
        return Response(reply.status, [(canonical_header(k), v) for k, v in reply.headers], reply.body)

    def attempt(self, attempt: Attempt) -> None:
        """Send one attempt and commit its outcome (and callbacks) in one transaction."""
        response = self.send(attempt)
        now = time.time()
        outcome = decide(attempt, response, now, self._config.retry_scale)
        with self._db.write() as conn:
            applied = messages.finish(conn, attempt, outcome, now)
        if not applied:
            log.info("message %s was cancelled during its attempt", attempt.id)
