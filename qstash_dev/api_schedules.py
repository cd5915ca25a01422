"""Schedules and queues: /v2/schedules, /v2/queues, and the dev-only tick trigger."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from . import messages, schedules
from .api_messages import check_name, destination
from .options import OptionError
from .views import queue_json, schedule_json
from .web import ApiError, Context, Reply, Request

__all__ = ["create_schedule", "list_schedules", "get_schedule", "delete_schedule", "pause_schedule",
           "resume_schedule", "fire_schedule", "upsert_queue", "list_queues", "get_queue", "delete_queue",
           "pause_queue", "resume_queue"]


def _schedule_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """A schedule with the states of its last tick's messages (one per endpoint of a URL group)."""
    if not row["last_message_id"]:
        return schedule_json(row, {})
    # A tick's messages share its creation time; the first one is never pruned while it is the last.
    tick = conn.execute("SELECT id, state FROM messages INDEXED BY messages_by_schedule WHERE schedule_id = ?"
                        " AND created_at = ? AND kind = 'message'",
                        (row["id"], int(row["last_fire_at"] * 1000))).fetchall()
    first = conn.execute("SELECT id, state FROM messages WHERE id = ?", (row["last_message_id"],)).fetchall()
    return schedule_json(row, {m["id"]: m["state"] for m in first + tick})


def create_schedule(ctx: Context, req: Request, dest: str) -> Reply:
    """POST /v2/schedules/{destination}: create, or replace when Upstash-Schedule-Id exists."""
    cron = req.header("Upstash-Cron")
    if not cron:
        raise ApiError(400, "Upstash-Cron header is required, e.g. '*/5 * * * *' or 'CRON_TZ=Europe/Berlin 0 9 * * *'")
    given_id = req.header("Upstash-Schedule-Id")
    schedule_id = check_name(given_id, "Upstash-Schedule-Id") if given_id else None
    try:
        with ctx.db.write() as conn:
            schedule_id = schedules.upsert(conn, schedule_id=schedule_id, cron_text=cron,
                                           destination=destination(dest, req), headers=req.headers,
                                           body=req.body, caller_ip=req.client_ip, now=time.time())
    except OptionError as exc:
        raise ApiError(400, str(exc)) from None
    ctx.engine.wake()
    return Reply(200, {"scheduleId": schedule_id})


def list_schedules(ctx: Context, req: Request) -> Reply:
    """GET /v2/schedules."""
    with ctx.db.read() as conn:
        rows = conn.execute("SELECT * FROM schedules ORDER BY created_at, id").fetchall()
        return Reply(200, [_schedule_json(conn, row) for row in rows])


def _schedule_row(conn: sqlite3.Connection, schedule_id: str) -> sqlite3.Row:
    """The schedule's row, or a 404."""
    row = conn.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"schedule {schedule_id} not found")
    return row


def get_schedule(ctx: Context, req: Request, schedule_id: str) -> Reply:
    """GET /v2/schedules/{id}."""
    with ctx.db.read() as conn:
        return Reply(200, _schedule_json(conn, _schedule_row(conn, schedule_id)))


def delete_schedule(ctx: Context, req: Request, schedule_id: str) -> Reply:
    """DELETE /v2/schedules/{id}; messages it already published are still delivered."""
    with ctx.db.write() as conn:
        if not conn.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount:
            raise ApiError(404, f"schedule {schedule_id} not found")
    return Reply(200)


def _set_paused(ctx: Context, schedule_id: str, paused: bool) -> Reply:
    """Pause or resume a schedule."""
    with ctx.db.write() as conn:
        if not schedules.set_paused(conn, schedule_id, paused, time.time()):
            raise ApiError(404, f"schedule {schedule_id} not found")
    ctx.engine.wake()
    return Reply(200)


def pause_schedule(ctx: Context, req: Request, schedule_id: str) -> Reply:
    """PATCH or POST /v2/schedules/{id}/pause."""
    return _set_paused(ctx, schedule_id, True)


def resume_schedule(ctx: Context, req: Request, schedule_id: str) -> Reply:
    """PATCH or POST /v2/schedules/{id}/resume."""
    return _set_paused(ctx, schedule_id, False)


def fire_schedule(ctx: Context, req: Request, schedule_id: str) -> Reply:
    """POST /_dev/schedules/{id}/fire: publish one tick now; the regular ticks are unchanged."""
    try:
        with ctx.db.write() as conn:
            message_ids = schedules.tick(conn, _schedule_row(conn, schedule_id), time.time(), advance=False)
    except (ValueError, LookupError) as exc:
        raise ApiError(409, f"schedule {schedule_id} cannot fire: {exc}") from None
    ctx.engine.wake()
    return Reply(200, {"messageId": message_ids[0], "messageIds": message_ids})


def _lag(conn: sqlite3.Connection, name: str) -> int:
    """Messages of a queue not yet delivered."""
    return conn.execute("SELECT COUNT(*) FROM messages WHERE queue = ? AND state IN ('pending', 'active')",
                        (name,)).fetchone()[0]


def upsert_queue(ctx: Context, req: Request) -> Reply:
    """POST /v2/queues with {queueName, parallelism, paused}."""
    spec = req.json(default={})
    if not isinstance(spec, dict) or not isinstance(spec.get("queueName"), str):
        raise ApiError(400, "expected {\"queueName\": str, \"parallelism\": int, \"paused\": bool}")
    name = check_name(spec["queueName"], "queueName")
    parallelism = spec.get("parallelism", 1)
    if not isinstance(parallelism, int) or isinstance(parallelism, bool) or not 1 <= parallelism <= 1000:
        raise ApiError(400, "parallelism must be an integer from 1 to 1000")
    now = int(time.time() * 1000)
    with ctx.db.write() as conn:
        conn.execute("INSERT INTO queues (name, parallelism, paused, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
                     " ON CONFLICT(name) DO UPDATE SET parallelism = excluded.parallelism,"
                     " paused = excluded.paused, updated_at = excluded.updated_at",
                     (name, parallelism, int(bool(spec.get("paused", False))), now, now))
    ctx.engine.wake()
    return Reply(200)


def list_queues(ctx: Context, req: Request) -> Reply:
    """GET /v2/queues."""
    with ctx.db.read() as conn:
        rows = conn.execute("SELECT * FROM queues ORDER BY name").fetchall()
        return Reply(200, [queue_json(row, _lag(conn, row["name"])) for row in rows])


def get_queue(ctx: Context, req: Request, name: str) -> Reply:
    """GET /v2/queues/{name}."""
    with ctx.db.read() as conn:
        row = conn.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ApiError(404, f"queue {name} not found")
        return Reply(200, queue_json(row, _lag(conn, name)))


def delete_queue(ctx: Context, req: Request, name: str) -> Reply:
    """DELETE /v2/queues/{name}: its undelivered messages are cancelled."""
    with ctx.db.write() as conn:
        if not conn.execute("DELETE FROM queues WHERE name = ?", (name,)).rowcount:
            raise ApiError(404, f"queue {name} not found")
        messages.cancel(conn, time.time(), "queue = ?", (name,))
    return Reply(200)


def _set_queue_paused(ctx: Context, name: str, paused: bool) -> Reply:
    """Pause or resume a queue."""
    with ctx.db.write() as conn:
        if not conn.execute("UPDATE queues SET paused = ?, updated_at = ? WHERE name = ?",
                            (int(paused), int(time.time() * 1000), name)).rowcount:
            raise ApiError(404, f"queue {name} not found")
    ctx.engine.wake()
    return Reply(200)


def pause_queue(ctx: Context, req: Request, name: str) -> Reply:
    """POST /v2/queues/{name}/pause."""
    return _set_queue_paused(ctx, name, True)


def resume_queue(ctx: Context, req: Request, name: str) -> Reply:
    """POST /v2/queues/{name}/resume."""
    return _set_queue_paused(ctx, name, False)
