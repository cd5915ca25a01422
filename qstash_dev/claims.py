"""Which due messages the scheduler starts now: plain ones, queues in order, flow-control keys.

A queue delivers in order, at most `parallelism` at a time, and a message waiting
for its retry keeps its slot. A flow-control key starts a message only within the
key's budget (flow.py); a key's waiting messages never hold back anyone else's,
because each key is read on its own index range.
"""

from __future__ import annotations

import json
import secrets
import sqlite3

from . import flow
from .messages import Attempt, record_event

__all__ = ["claim_due", "next_due_time"]


def _plain(conn: sqlite3.Connection, now: float, limit: int) -> list[sqlite3.Row]:
    """Due messages with neither a queue nor a flow-control key, oldest first."""
    return conn.execute(
        "SELECT * FROM messages WHERE state = 'pending' AND queue IS NULL AND flow_key IS NULL"
        " AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?", (now, limit)).fetchall()


def _queued(conn: sqlite3.Connection, now: float, budgets: flow.Budgets, room: int) -> list[sqlite3.Row]:
    """Due messages of the queues that are not paused, in order, within each queue's parallelism."""
    rows: list[sqlite3.Row] = []
    # The queues table is small; each query below is an index range (queue, state, retried, seq).
    for queue in conn.execute("SELECT name, parallelism FROM queues WHERE paused = 0").fetchall():
        name = queue["name"]
        # A message waiting for its retry keeps its slot: a queue delivers in order.
        holders = conn.execute(
            "SELECT (SELECT COUNT(*) FROM messages WHERE queue = ? AND state = 'active')"
            " + (SELECT COUNT(*) FROM messages WHERE queue = ? AND state = 'pending' AND retried > 0)",
            (name, name)).fetchone()[0]
        retrying = conn.execute(
            "SELECT * FROM messages INDEXED BY messages_by_queue WHERE queue = ? AND state = 'pending' AND retried > 0"
            " AND next_attempt_at <= ? ORDER BY seq", (name, now)).fetchall()
        fresh = conn.execute(
            "SELECT * FROM messages INDEXED BY messages_by_queue WHERE queue = ? AND state = 'pending' AND retried = 0"
            " AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
            (name, now, max(0, queue["parallelism"] - holders))).fetchall()
        for row in retrying + fresh:
            if len(rows) >= room or (row["flow_key"] and not budgets.take(row["flow_key"])):
                break  # in order: a message its flow-control key holds back holds back the rest of its queue
            rows.append(row)
    return rows


def _flow_keyed(conn: sqlite3.Connection, now: float, budgets: flow.Budgets, room: int) -> list[sqlite3.Row]:
    """Due messages (without a queue) of each flow-control key, oldest first, within the key's budget."""
    rows: list[sqlite3.Row] = []
    for key in (row["key"] for row in flow.keys(conn, now)):
        wanted = min(room - len(rows), budgets.available(key))
        if wanted < 1:
            continue
        for row in conn.execute(
                "SELECT * FROM messages INDEXED BY messages_by_flow WHERE flow_key = ? AND state = 'pending'"
                " AND next_attempt_at <= ? AND queue IS NULL ORDER BY next_attempt_at, seq LIMIT ?",
                (key, now, int(wanted))).fetchall():
            budgets.take(key)
            rows.append(row)
    return rows


def claim_due(conn: sqlite3.Connection, now: float, limit: int) -> list[Attempt]:
    """Mark up to `limit` due messages active and return them as attempts."""
    budgets = flow.Budgets(conn, now)
    rows = _plain(conn, now, limit)
    rows += _queued(conn, now, budgets, limit - len(rows))
    rows += _flow_keyed(conn, now, budgets, limit - len(rows))
    attempts = []
    for row in rows:
        token = secrets.token_hex(8)
        conn.execute("UPDATE messages SET state = 'active', attempt_token = ? WHERE id = ?", (token, row["id"]))
        record_event(conn, row["id"], "ACTIVE", now)
        if row["flow_key"]:
            flow.record_start(conn, row["flow_key"], now)
        attempts.append(Attempt(
            id=row["id"], kind=row["kind"], url=row["url"], method=row["method"], body=row["body"],
            headers=[tuple(pair) for pair in json.loads(row["headers"])],
            max_retries=row["max_retries"], retry_delay=row["retry_delay"], timeout=row["timeout"],
            retried=row["retried"], token=token, row=row,
        ))
    return attempts


def next_due_time(conn: sqlite3.Connection, now: float) -> float | None:
    """When the next message becomes due, or a rate-limited key may start one again."""
    later = conn.execute("SELECT MIN(next_attempt_at) FROM messages WHERE state = 'pending'"
                         " AND next_attempt_at > ?", (now,)).fetchone()[0]
    return min((t for t in (later, flow.next_free_time(conn, now)) if t is not None), default=None)
