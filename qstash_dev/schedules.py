"""Schedules in SQLite: upsert, pause/resume, and ticks.

A tick's message and the schedule's next fire time are written in one
transaction, so a crash can neither lose a tick nor fire it twice. The next fire
time is always computed after *now*: ticks missed while the server was down fire
once, not once per missed tick.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timezone

from . import ids, topics
from .cron import next_fire_times, parse_cron
from .messages import insert_message, targets
from .options import MessageOptions, OptionError, Pairs, parse_options

__all__ = ["upsert", "tick", "fire_due", "next_fire_time", "set_paused", "next_after", "schedule_options"]

log = logging.getLogger("qstash_dev")

# Headers that shape the schedule itself rather than each tick's message.
_NOT_PER_TICK = {"authorization", "upstash-cron", "upstash-schedule-id", "content-length", "host"}


def next_after(cron_text: str, now: float) -> float:
    """The first fire time of `cron_text` strictly after `now` (unix seconds)."""
    cron, tz = parse_cron(cron_text)
    after = datetime.fromtimestamp(now, timezone.utc)
    return next_fire_times(cron, tz, after, 1)[0].timestamp()


def schedule_options(row: sqlite3.Row) -> MessageOptions:
    """The MessageOptions each tick of this schedule is published with."""
    pairs = [tuple(pair) for pair in json.loads(row["options"])]
    return parse_options(row["destination"], pairs)


def upsert(conn: sqlite3.Connection, *, schedule_id: str | None, cron_text: str, destination: str,
           headers: Pairs, body: bytes, caller_ip: str | None, now: float) -> str:
    """Create or replace a schedule (keeping its paused state and creation time); return its id."""
    try:
        next_fire = next_after(cron_text, now)
    except ValueError as exc:
        raise OptionError(f"Upstash-Cron: {exc}") from None
    kept = [(name, value) for name, value in headers
            if name.lower() not in _NOT_PER_TICK
            and (name.lower().startswith("upstash-") or name.lower() == "content-type")]
    opts = parse_options(destination, kept)  # validate now, not at the first tick
    if opts.topic:
        try:
            topics.endpoints(conn, opts.topic)
        except topics.UnknownGroup as exc:
            raise OptionError(f"destination: {exc}") from None
    schedule_id = schedule_id or ids.schedule_id()
    conn.execute(
        "INSERT INTO schedules (id, cron, destination, options, body, caller_ip, created_at, next_fire_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET cron = excluded.cron,"
        " destination = excluded.destination, options = excluded.options, body = excluded.body,"
        " caller_ip = excluded.caller_ip, next_fire_at = excluded.next_fire_at",
        (schedule_id, cron_text.strip(), destination, json.dumps(kept), body, caller_ip,
         int(now * 1000), next_fire),
    )
    return schedule_id


def tick(conn: sqlite3.Connection, row: sqlite3.Row, now: float, *, advance: bool) -> list[str]:
    """Publish one tick of a schedule (a message per endpoint for a URL group); with `advance`,
    move its next fire time past now. Returns the new message ids."""
    # Everything that can fail comes before the insert, so a failed tick leaves no message.
    opts = schedule_options(row)
    next_fire = next_after(row["cron"], now) if advance else row["next_fire_at"]
    message_ids = [insert_message(conn, target, row["body"], now=now, schedule_id=row["id"],
                                  caller_ip=row["caller_ip"]) for target in targets(conn, opts)]
    conn.execute("UPDATE schedules SET last_fire_at = ?, last_message_id = ?, next_fire_at = ? WHERE id = ?",
                 (now, message_ids[0] if message_ids else None, next_fire, row["id"]))
    return message_ids


def fire_due(conn: sqlite3.Connection, now: float) -> list[str]:
    """Fire every due schedule once; a paused one only moves on. Return the new message ids."""
    fired = []
    for row in conn.execute("SELECT * FROM schedules WHERE next_fire_at <= ?", (now,)).fetchall():
        try:
            if row["paused"]:
                conn.execute("UPDATE schedules SET next_fire_at = ? WHERE id = ?",
                             (next_after(row["cron"], now), row["id"]))
            else:
                fired += tick(conn, row, now, advance=True)
        except (ValueError, topics.UnknownGroup):
            # A cron or option that no longer parses (say, a zone gone from tzdata), or a deleted
            # URL group, must not stop every other schedule and message: skip this one for an hour.
            log.exception("schedule %s cannot fire; retrying in an hour", row["id"])
            conn.execute("UPDATE schedules SET next_fire_at = ? WHERE id = ?", (now + 3600, row["id"]))
    return fired


def next_fire_time(conn: sqlite3.Connection) -> float | None:
    """The earliest next fire time of any schedule."""
    return conn.execute("SELECT MIN(next_fire_at) FROM schedules").fetchone()[0]


def set_paused(conn: sqlite3.Connection, schedule_id: str, paused: bool, now: float) -> bool:
    """Pause or resume; resuming starts from the next fire time after now. False if unknown."""
    row = conn.execute("SELECT cron FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
    if row is None:
        return False
    conn.execute("UPDATE schedules SET paused = ?, next_fire_at = ? WHERE id = ?",
                 (int(paused), next_after(row["cron"], now), schedule_id))
    return True
