"""Flow control in SQLite: each key's limits, its pause and pins, and its recent starts.

A key's configuration comes from the latest message published with it, except the
parts pinned through the API. The delivery loop starts a message of a key only
while fewer than `parallelism` of the key's messages are in flight and fewer than
`rate` attempts of the key started in the last `period` seconds. The window slides
(every start is stored until it is a period old), so no span of `period` seconds,
wherever it begins, holds more than `rate` starts.
"""

from __future__ import annotations

import math
import sqlite3

from .options import FlowControl

__all__ = ["Budgets", "configure", "record_start", "next_free_time", "info", "keys", "set_paused", "pin",
           "unpin", "reset_rate", "prune"]


def configure(conn: sqlite3.Connection, flow: FlowControl, now: float) -> None:
    """A new message's settings become the key's, except what is pinned."""
    conn.execute(
        "INSERT INTO flow_keys (key, parallelism, rate, period, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(key) DO UPDATE SET"
        " parallelism = CASE WHEN pinned_parallelism THEN parallelism ELSE excluded.parallelism END,"
        " rate = CASE WHEN pinned_rate THEN rate ELSE excluded.rate END,"
        " period = CASE WHEN pinned_rate THEN period ELSE excluded.period END,"
        " updated_at = excluded.updated_at",
        (flow.key, flow.parallelism, flow.rate, flow.period, now))


def _window_start(row: sqlite3.Row, now: float) -> float:
    """Where the rate window begins: a period ago, or the last reset if that is later."""
    return max(now - row["period"], row["rate_reset_at"])


def _active(conn: sqlite3.Connection, key: str) -> int:
    """The key's messages in flight."""
    return conn.execute("SELECT COUNT(*) FROM messages INDEXED BY messages_by_flow"
                        " WHERE flow_key = ? AND state = 'active'", (key,)).fetchone()[0]


def _started(conn: sqlite3.Connection, row: sqlite3.Row, now: float) -> int:
    """Attempts of the key started within its rate window."""
    return conn.execute("SELECT COUNT(*) FROM flow_starts WHERE key = ? AND at > ?",
                        (row["key"], _window_start(row, now))).fetchone()[0]


class Budgets:
    """How many more attempts each key may start in this pass of the scheduler."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self._conn = conn
        self._now = now
        self._left: dict[str, float] = {}

    def available(self, key: str) -> float:
        """Starts the key allows right now (math.inf without limits, 0 when paused or full)."""
        if key not in self._left:
            row = self._conn.execute("SELECT * FROM flow_keys WHERE key = ?", (key,)).fetchone()
            if row is None:
                self._left[key] = math.inf
            elif row["paused"]:
                self._left[key] = 0
            else:
                by_parallelism = math.inf if row["parallelism"] is None else row["parallelism"] - _active(
                    self._conn, key)
                by_rate = math.inf if row["rate"] is None else row["rate"] - _started(self._conn, row, self._now)
                self._left[key] = max(0, min(by_parallelism, by_rate))
        return self._left[key]

    def take(self, key: str) -> bool:
        """Use one start of the key if it has one left."""
        if self.available(key) < 1:
            return False
        self._left[key] -= 1
        return True


def record_start(conn: sqlite3.Connection, key: str, now: float) -> None:
    """Remember one attempt's start for the key's rate window (kept for every key: a rate may come later)."""
    conn.execute("INSERT INTO flow_starts (key, at) VALUES (?, ?)", (key, now))


def next_free_time(conn: sqlite3.Connection, now: float) -> float | None:
    """When a rate-limited key with waiting messages may start again (the scheduler sleeps until then)."""
    rows = conn.execute(
        "SELECT f.*, (SELECT MIN(s.at) FROM flow_starts s WHERE s.key = f.key"
        "  AND s.at > MAX(? - f.period, f.rate_reset_at)) AS oldest"
        " FROM flow_keys f WHERE f.rate IS NOT NULL AND f.paused = 0 AND EXISTS (SELECT 1 FROM messages m"
        "  INDEXED BY messages_by_flow WHERE m.flow_key = f.key AND m.state = 'pending' AND m.next_attempt_at <= ?)",
        (now, now)).fetchall()
    times = [row["oldest"] + row["period"] for row in rows if row["oldest"] is not None]
    return min(times, default=None)


def keys(conn: sqlite3.Connection, now: float) -> list[sqlite3.Row]:
    """Keys with waiting messages that are not paused, for the claim loop."""
    return conn.execute(
        "SELECT key FROM flow_keys f WHERE paused = 0 AND EXISTS (SELECT 1 FROM messages m INDEXED BY"
        " messages_by_flow WHERE m.flow_key = f.key AND m.state = 'pending' AND m.next_attempt_at <= ?)",
        (now,)).fetchall()


def info(conn: sqlite3.Connection, key: str | None, now: float) -> list[dict]:
    """GET /v2/flowControl[/{key}] bodies: limits (0 = none), usage and state of each key."""
    rows = conn.execute("SELECT * FROM flow_keys" + (" WHERE key = ?" if key else "") + " ORDER BY key",
                        (key,) if key else ()).fetchall()
    result = []
    for row in rows:
        oldest = conn.execute("SELECT MIN(at) FROM flow_starts WHERE key = ? AND at > ?",
                              (row["key"], _window_start(row, now))).fetchone()[0]
        result.append({
            "flowControlKey": row["key"],
            "waitListSize": conn.execute("SELECT COUNT(*) FROM messages INDEXED BY messages_by_flow WHERE"
                                         " flow_key = ? AND state = 'pending' AND next_attempt_at <= ?",
                                         (row["key"], now)).fetchone()[0],
            "parallelismMax": row["parallelism"] or 0,
            "parallelismCount": _active(conn, row["key"]),
            "rateMax": row["rate"] or 0,
            "rateCount": _started(conn, row, now),
            "ratePeriod": row["period"],
            "ratePeriodStart": int(oldest if oldest is not None else max(row["rate_reset_at"], now - row["period"])),
            "isPaused": bool(row["paused"]),
            "isPinnedParallelism": bool(row["pinned_parallelism"]),
            "isPinnedRate": bool(row["pinned_rate"]),
        })
    return result


def set_paused(conn: sqlite3.Connection, key: str, paused: bool, now: float, *, create: bool) -> bool:
    """Pause or resume a key (a pause may come before its first message); False if unknown."""
    if create:
        conn.execute("INSERT OR IGNORE INTO flow_keys (key, updated_at) VALUES (?, ?)", (key, now))
    return conn.execute("UPDATE flow_keys SET paused = ?, updated_at = ? WHERE key = ?",
                        (int(paused), now, key)).rowcount > 0


def reset_rate(conn: sqlite3.Connection, key: str, now: float) -> bool:
    """Forget the key's starts: a new rate period begins now. False if the key is unknown."""
    conn.execute("DELETE FROM flow_starts WHERE key = ?", (key,))
    return conn.execute("UPDATE flow_keys SET rate_reset_at = ?, updated_at = ? WHERE key = ?",
                        (now, now, key)).rowcount > 0


def pin(conn: sqlite3.Connection, key: str, parallelism: int | None, rate: int | None, period: int | None,
        now: float) -> None:
    """Fix the given parts of a key's configuration against incoming messages; resets its rate state."""
    conn.execute("INSERT OR IGNORE INTO flow_keys (key, updated_at) VALUES (?, ?)", (key, now))
    if parallelism is not None:
        conn.execute("UPDATE flow_keys SET parallelism = ?, pinned_parallelism = 1 WHERE key = ?", (parallelism, key))
    if rate is not None:
        conn.execute("UPDATE flow_keys SET rate = ?, period = COALESCE(?, period), pinned_rate = 1 WHERE key = ?",
                     (rate, period, key))
    reset_rate(conn, key, now)


def unpin(conn: sqlite3.Connection, key: str, parallelism: bool, rate: bool, now: float) -> bool:
    """Let incoming messages configure these parts again (the pinned values stay until one does)."""
    return conn.execute(
        "UPDATE flow_keys SET pinned_parallelism = CASE WHEN ? THEN 0 ELSE pinned_parallelism END,"
        " pinned_rate = CASE WHEN ? THEN 0 ELSE pinned_rate END, updated_at = ? WHERE key = ?",
        (parallelism, rate, now, key)).rowcount > 0


def prune(conn: sqlite3.Connection, now: float, retention: float) -> None:
    """Drop starts that left their key's window, and idle keys nobody configured by hand."""
    conn.execute("DELETE FROM flow_starts WHERE at <= COALESCE((SELECT MAX(? - f.period, f.rate_reset_at)"
                 " FROM flow_keys f WHERE f.key = flow_starts.key), ?)", (now, now))
    conn.execute("DELETE FROM flow_keys WHERE updated_at < ? AND paused = 0 AND pinned_parallelism = 0"
                 " AND pinned_rate = 0 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.flow_key = flow_keys.key"
                 " AND m.state IN ('pending', 'active'))", (now - retention,))
