"""A message's life in SQLite: publish (with dedup), outcome, cancel (claims are in claims.py).

Every function takes a connection inside a write transaction, so callers can put
several steps (a schedule tick and its publish, an outcome and its callbacks) in
one commit.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from . import flow, ids, topics
from .options import FlowControl, MessageOptions, Pairs

__all__ = ["Attempt", "Response", "Outcome", "publish", "publish_all", "targets", "insert_message", "finish",
           "cancel", "reset_in_flight", "prune", "record_event"]

@dataclass(frozen=True)
class Attempt:
    """One claimed delivery attempt, with everything needed to make it."""

    id: str
    kind: str
    url: str
    method: str
    body: bytes
    headers: Pairs
    max_retries: int
    retry_delay: str | None
    timeout: float | None
    retried: int
    token: str
    row: sqlite3.Row  # the full message, for callback bodies


@dataclass(frozen=True)
class Response:
    """What one attempt got back; status 0 means no HTTP response (network error)."""

    status: int
    headers: Pairs = field(default_factory=list)
    body: bytes = b""
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The decision about one attempt."""

    state: str  # delivered | retry | failed
    response: Response
    next_attempt_at: float | None = None
    dlq_id: str | None = None
    followups: list[tuple[MessageOptions, bytes, str]] = field(default_factory=list)  # callbacks


def record_event(conn: sqlite3.Connection, message_id: str, state: str, now: float, *,
                 error: str | None = None, next_delivery: float | None = None,
                 response: Response | None = None) -> None:
    """Append one log entry (GET /v2/events)."""
    conn.execute(
        "INSERT INTO events (time, message_id, state, error, next_delivery_time, response_status,"
        " response_headers, response_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (int(now * 1000), message_id, state, error,
         int(next_delivery * 1000) if next_delivery is not None else None,
         response.status if response else None,
         json.dumps(response.headers) if response else None,
         response.body if response else None),
    )


def _dedup_key(opts: MessageOptions, body: bytes) -> str | None:
    """The deduplication key: the given id, or a hash of destination, body and headers."""
    if opts.dedup_id:
        # Each endpoint of a URL group deduplicates on its own.
        return "id:" + opts.dedup_id + (f"\n{opts.topic}\n{opts.url}" if opts.topic else "")
    if opts.content_dedup:
        digest = hashlib.sha256()
        for part in (opts.url.encode(), body, json.dumps(sorted(opts.headers)).encode()):
            digest.update(len(part).to_bytes(8, "big") + part)
        return "content:" + digest.hexdigest()
    return None


def _flow_columns(settings: FlowControl | None) -> tuple[str | None, int | None, int | None, int | None]:
    """The flow_* columns of a message."""
    if settings is None:
        return None, None, None, None
    return settings.key, settings.parallelism, settings.rate, settings.period


def insert_message(conn: sqlite3.Connection, opts: MessageOptions, body: bytes, *, now: float,
                   kind: str = "message", schedule_id: str | None = None,
                   caller_ip: str | None = None) -> str:
    """Store a new pending message and its CREATED event; return its id."""
    message_id = ids.message_id()
    first = opts.first_attempt_at(now)
    if opts.queue:
        conn.execute("INSERT OR IGNORE INTO queues (name, created_at, updated_at) VALUES (?, ?, ?)",
                     (opts.queue, int(now * 1000), int(now * 1000)))
    conn.execute(
        "INSERT INTO messages (id, kind, url, method, body, headers, max_retries, retry_delay, timeout,"
        " callback, failure_callback, callback_config, failure_callback_config, queue, schedule_id,"
        " label, caller_ip, created_at, not_before, state, next_attempt_at, topic_name, endpoint_name,"
        " flow_key, flow_parallelism, flow_rate, flow_period, redact)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
        (message_id, kind, opts.url, opts.method, body, json.dumps(opts.headers), opts.retries,
         opts.retry_delay, opts.timeout, opts.callback, opts.failure_callback,
         json.dumps(opts.callback_config), json.dumps(opts.failure_callback_config), opts.queue,
         schedule_id, opts.label, caller_ip, int(now * 1000), int(first * 1000), first,
         opts.topic, opts.endpoint_name, *_flow_columns(opts.flow), str(opts.redact) if opts.redact else None),
    )
    if opts.flow:
        flow.configure(conn, opts.flow, now)
    record_event(conn, message_id, "CREATED", now, next_delivery=first)
    return message_id


def publish(conn: sqlite3.Connection, opts: MessageOptions, body: bytes, *, now: float,
            dedup_window: float, caller_ip: str | None = None,
            schedule_id: str | None = None) -> tuple[str, bool]:
    """Store a message unless a duplicate is in the window; return (id, deduplicated)."""
    key = _dedup_key(opts, body)
    if key:
        row = conn.execute("SELECT message_id FROM dedup WHERE key = ? AND expires_at > ?",
                           (key, now)).fetchone()
        if row:
            return row["message_id"], True
    message_id = insert_message(conn, opts, body, now=now, schedule_id=schedule_id, caller_ip=caller_ip)
    if key:
        conn.execute("INSERT OR REPLACE INTO dedup (key, message_id, expires_at) VALUES (?, ?, ?)",
                     (key, message_id, now + dedup_window))
    return message_id, False


def targets(conn: sqlite3.Connection, opts: MessageOptions) -> list[MessageOptions]:
    """What one publish makes: the message itself, or one per endpoint of its URL group."""
    if not opts.topic or opts.url:
        return [opts]
    return [replace(opts, url=e.url, endpoint_name=e.name) for e in topics.endpoints(conn, opts.topic)]


def publish_all(conn: sqlite3.Connection, opts: MessageOptions, body: bytes, *, now: float, dedup_window: float,
                caller_ip: str | None = None) -> list[tuple[str, str, bool]]:
    """Publish to a URL or fan out to a URL group; (id, url, deduplicated) per message."""
    results = []
    for target in targets(conn, opts):
        message_id, duplicate = publish(conn, target, body, now=now, dedup_window=dedup_window, caller_ip=caller_ip)
        results.append((message_id, target.url, duplicate))
    return results


def finish(conn: sqlite3.Connection, attempt: Attempt, outcome: Outcome, now: float) -> bool:
    """Apply an attempt's outcome; False if the message was cancelled meanwhile."""
    response = outcome.response
    common = (response.status, json.dumps(response.headers), response.body, response.error)
    if outcome.state == "retry":
        updated = conn.execute(
            "UPDATE messages SET state = 'pending', retried = retried + 1, next_attempt_at = ?,"
            " attempt_token = NULL, last_status = ?, last_headers = ?, last_body = ?, last_error = ?"
            " WHERE id = ? AND attempt_token = ? AND state = 'active'",
            (outcome.next_attempt_at, *common, attempt.id, attempt.token)).rowcount
    else:
        updated = conn.execute(
            "UPDATE messages SET state = ?, attempt_token = NULL, finished_at = ?, last_status = ?,"
            " last_headers = ?, last_body = ?, last_error = ?"
            " WHERE id = ? AND attempt_token = ? AND state = 'active'",
            (outcome.state, now, *common, attempt.id, attempt.token)).rowcount
    if not updated:
        return False
    if outcome.state == "delivered":
        record_event(conn, attempt.id, "DELIVERED", now, response=response)
    else:
        error = response.error or f"HTTP {response.status}"
        record_event(conn, attempt.id, "ERROR", now, error=error, response=response)
    if outcome.state == "retry":
        record_event(conn, attempt.id, "RETRY", now, next_delivery=outcome.next_attempt_at)
    if outcome.state == "failed":
        record_event(conn, attempt.id, "FAILED", now, error=response.error or f"HTTP {response.status}")
        conn.execute("INSERT INTO dlq (dlq_id, message_id, created_at, response_status, response_headers,"
                     " response_body) VALUES (?, ?, ?, ?, ?, ?)",
                     (outcome.dlq_id, attempt.id, int(now * 1000), response.status,
                      json.dumps(response.headers), response.body))
    for opts, body, kind in outcome.followups:
        insert_message(conn, opts, body, now=now, kind=kind, schedule_id=attempt.row["schedule_id"])
    return True


def cancel(conn: sqlite3.Connection, now: float, where: str = "1 = 1", params: Sequence[Any] = (),
           limit: int | None = None) -> int:
    """Cancel pending or in-flight messages (alias `m`) matching `where`, oldest first; return how many."""
    rows = conn.execute(f"SELECT id FROM messages m WHERE state IN ('pending', 'active') AND ({where})"
                        " ORDER BY seq LIMIT ?", (*params, -1 if limit is None else limit)).fetchall()
    for row in rows:
        conn.execute("UPDATE messages SET state = 'canceled', attempt_token = NULL, finished_at = ?"
                     " WHERE id = ?", (now, row["id"]))
        record_event(conn, row["id"], "CANCEL_REQUESTED", now)
        record_event(conn, row["id"], "CANCELED", now)
    return len(rows)


def reset_in_flight(conn: sqlite3.Connection) -> int:
    """After a restart, attempts that were in flight are due again (at-least-once)."""
    return conn.execute("UPDATE messages SET state = 'pending', attempt_token = NULL"
                        " WHERE state = 'active'").rowcount


def prune(conn: sqlite3.Connection, now: float, retention: float) -> None:
    """Forget finished messages, their events and expired dedup keys after `retention` seconds."""
    cutoff = now - retention
    conn.execute("DELETE FROM dedup WHERE expires_at <= ?", (now,))
    conn.execute("DELETE FROM messages WHERE finished_at < ? AND id NOT IN (SELECT message_id FROM dlq)"
                 " AND id NOT IN (SELECT last_message_id FROM schedules WHERE last_message_id IS NOT NULL)",
                 (cutoff,))
    conn.execute("DELETE FROM events WHERE time < ?", (int(cutoff * 1000),))
