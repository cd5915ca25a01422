"""What happened: the DLQ (/v2/dlq), the log (/v2/events, /v2/logs) and /v2/keys."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from . import messages
from .options import OptionError, parse_options
from .views import dlq_json, event_json
from .web import ApiError, Context, Reply, Request

__all__ = ["list_dlq", "get_dlq", "delete_dlq", "delete_dlq_many", "retry_dlq", "retry_dlq_many",
           "list_events", "list_logs", "keys"]

_DLQ_SELECT = ("SELECT m.*, d.dlq_id, d.response_status, d.response_headers, d.response_body,"
               " d.rowid AS cursor_id FROM dlq d JOIN messages m ON m.id = d.message_id")
_DLQ_FILTERS = {"messageId": "m.id = ?", "url": "m.url = ?", "queueName": "m.queue = ?",
                "scheduleId": "m.schedule_id = ?", "label": "m.label = ?", "callerIp": "m.caller_ip = ?",
                "responseStatus": "d.response_status = ?", "fromDate": "d.created_at >= ?",
                "toDate": "d.created_at <= ?"}
_EVENT_SELECT = ("SELECT e.*, m.url, m.method, m.headers, m.body, m.queue, m.schedule_id, m.label,"
                 " m.max_retries, m.retry_delay, m.timeout, m.callback, m.failure_callback"
                 " FROM events e LEFT JOIN messages m ON m.id = e.message_id")
_EVENT_FILTERS = {"messageId": "e.message_id = ?", "url": "m.url = ?", "queueName": "m.queue = ?",
                  "scheduleId": "m.schedule_id = ?", "label": "m.label = ?", "fromDate": "e.time >= ?",
                  "toDate": "e.time <= ?"}
_IN_PROGRESS = ("ACTIVE", "RETRY", "ERROR")


def _count(req: Request, maximum: int) -> int:
    """The `count` parameter, bounded."""
    try:
        return max(1, min(maximum, int(req.arg("count") or maximum)))
    except ValueError:
        raise ApiError(400, "count must be an integer") from None


def _where(req: Request, filters: dict[str, str]) -> tuple[list[str], list[Any]]:
    """SQL conditions for the query parameters that are present."""
    clauses, params = ["1 = 1"], []
    for name, clause in filters.items():
        value = req.arg(name)
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return clauses, params


def _cursor(req: Request) -> int | None:
    """The `cursor` parameter (a row number)."""
    try:
        return int(req.arg("cursor")) if req.arg("cursor") else None
    except ValueError:
        raise ApiError(400, "cursor is not one this server returned") from None


def _dlq_where(req: Request) -> tuple[list[str], list[Any]]:
    """Conditions from the filters and, when given, `?dlqIds=` (repeated)."""
    clauses, params = _where(req, _DLQ_FILTERS)
    ids = req.query.get("dlqIds")
    if ids:
        clauses.append(f"d.dlq_id IN ({', '.join('?' * len(ids))})")
        params += ids
    return clauses, params


def list_dlq(ctx: Context, req: Request) -> Reply:
    """GET /v2/dlq: earliest first, `count` (max 100) at a time with a `cursor`."""
    clauses, params = _dlq_where(req)
    cursor, count = _cursor(req), _count(req, 100)
    if cursor is not None:
        clauses.append("d.rowid > ?")
        params.append(cursor)
    with ctx.db.read() as conn:
        rows = conn.execute(f"{_DLQ_SELECT} WHERE {' AND '.join(clauses)} ORDER BY d.rowid LIMIT ?",
                            (*params, count + 1)).fetchall()
    page = rows[:count]
    body: dict[str, Any] = {"messages": [dlq_json(row) for row in page]}
    if len(rows) > count:
        body["cursor"] = str(page[-1]["cursor_id"])
    return Reply(200, body)


def _dlq_row(conn: sqlite3.Connection, dlq_id: str) -> sqlite3.Row:
    """One DLQ entry joined with its message, or a 404."""
    row = conn.execute(f"{_DLQ_SELECT} WHERE d.dlq_id = ?", (dlq_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"DLQ message {dlq_id} not found")
    return row


def get_dlq(ctx: Context, req: Request, dlq_id: str) -> Reply:
    """GET /v2/dlq/{dlqId}."""
    with ctx.db.read() as conn:
        return Reply(200, dlq_json(_dlq_row(conn, dlq_id)))


def delete_dlq(ctx: Context, req: Request, dlq_id: str) -> Reply:
    """DELETE /v2/dlq/{dlqId}."""
    with ctx.db.write() as conn:
        if not conn.execute("DELETE FROM dlq WHERE dlq_id = ?", (dlq_id,)).rowcount:
            raise ApiError(404, f"DLQ message {dlq_id} not found")
    return Reply(200)


def _dlq_ids(req: Request) -> list[str] | None:
    """DLQ ids from the body (`{"dlqIds": [...]}`) or the query (`?dlqIds=a&dlqIds=b`)."""
    spec = req.json(default={})
    ids = spec.get("dlqIds") if isinstance(spec, dict) else None
    ids = ids if ids is not None else req.query.get("dlqIds")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise ApiError(400, "dlqIds must be an array of strings")
    return ids


def delete_dlq_many(ctx: Context, req: Request) -> Reply:
    """DELETE /v2/dlq: `dlqIds` (JSON body or query), else every entry matching the filters."""
    ids = _dlq_ids(req)
    with ctx.db.write() as conn:
        if ids is None:
            clauses, params = _where(req, _DLQ_FILTERS)
            ids = [row["dlq_id"] for row in conn.execute(
                f"{_DLQ_SELECT} WHERE {' AND '.join(clauses)}", params).fetchall()]
        deleted = sum(conn.execute("DELETE FROM dlq WHERE dlq_id = ?", (i,)).rowcount for i in ids)
    return Reply(200, {"deleted": deleted})


def _republish(conn: sqlite3.Connection, req: Request, row: sqlite3.Row) -> str:
    """Publish a DLQ message again (request headers override its settings) and drop the entry."""
    pairs = [("Upstash-Method", row["method"]), ("Upstash-Retries", str(row["max_retries"]))]
    pairs += [(n, v) if n.lower() == "content-type" else (f"Upstash-Forward-{n}", v)
              for n, v in json.loads(row["headers"])]
    for header, column in (("Upstash-Retry-Delay", "retry_delay"), ("Upstash-Callback", "callback"),
                           ("Upstash-Failure-Callback", "failure_callback"), ("Upstash-Label", "label")):
        if row[column]:
            pairs.append((header, row[column]))
    if row["timeout"]:
        pairs.append(("Upstash-Timeout", f"{row['timeout']}s"))
    pairs += [(f"Upstash-Callback-{n}", v) for n, v in json.loads(row["callback_config"])]
    pairs += [(f"Upstash-Failure-Callback-{n}", v) for n, v in json.loads(row["failure_callback_config"])]
    pairs += [(n, v) for n, v in req.headers if n.lower().startswith("upstash-")]
    try:
        opts = parse_options(row["url"], pairs, queue=row["queue"])
    except OptionError as exc:
        raise ApiError(400, str(exc)) from None
    message_id = messages.insert_message(conn, opts, row["body"], now=time.time(), kind=row["kind"],
                                         schedule_id=row["schedule_id"], caller_ip=row["caller_ip"])
    conn.execute("DELETE FROM dlq WHERE dlq_id = ?", (row["dlq_id"],))
    return message_id


def retry_dlq(ctx: Context, req: Request, dlq_id: str) -> Reply:
    """POST /v2/dlq/retry/{dlqId}."""
    with ctx.db.write() as conn:
        message_id = _republish(conn, req, _dlq_row(conn, dlq_id))
    ctx.engine.wake()
    return Reply(200, {"messageId": message_id, "deduplicated": False})


def retry_dlq_many(ctx: Context, req: Request) -> Reply:
    """POST /v2/dlq/retry: the given `dlqIds`, or every entry matching the filters."""
    ids = _dlq_ids(req)
    with ctx.db.write() as conn:
        if ids is not None:
            rows = [_dlq_row(conn, i) for i in ids]
        else:
            clauses, params = _where(req, _DLQ_FILTERS)
            rows = conn.execute(f"{_DLQ_SELECT} WHERE {' AND '.join(clauses)} ORDER BY d.rowid", params).fetchall()
        responses = [{"messageId": _republish(conn, req, row), "deduplicated": False} for row in rows]
    ctx.engine.wake()
    return Reply(200, {"cursor": None, "responses": responses})


def list_events(ctx: Context, req: Request, key: str = "events") -> Reply:
    """GET /v2/events: newest first (or `order=earliestFirst`), `count` (max 1000) with a cursor."""
    clauses, params = _where(req, _EVENT_FILTERS)
    state = req.arg("state")
    if state:
        states = _IN_PROGRESS if state == "IN_PROGRESS" else ("CANCELED",) if state == "CANCELLED" else (state,)
        clauses.append(f"e.state IN ({', '.join('?' * len(states))})")
        params += states
    if len(req.query.get("messageIds", [])) > 0:
        ids = req.query["messageIds"]
        clauses.append(f"e.message_id IN ({', '.join('?' * len(ids))})")
        params += ids
    earliest = req.arg("order") == "earliestFirst"
    cursor, count = _cursor(req), _count(req, 1000)
    if cursor is not None:
        clauses.append("e.id > ?" if earliest else "e.id < ?")
        params.append(cursor)
    order = "ASC" if earliest else "DESC"
    with ctx.db.read() as conn:
        rows = conn.execute(f"{_EVENT_SELECT} WHERE {' AND '.join(clauses)} ORDER BY e.id {order} LIMIT ?",
                            (*params, count + 1)).fetchall()
    page = rows[:count]
    body: dict[str, Any] = {key: [event_json(row) for row in page]}
    if len(rows) > count:
        body["cursor"] = str(page[-1]["id"])
    return Reply(200, body)


def list_logs(ctx: Context, req: Request) -> Reply:
    """GET /v2/logs: the newer name of /v2/events; both keys, for old and new SDKs."""
    reply = list_events(ctx, req)
    return Reply(200, {**reply.body, "logs": reply.body["events"]})


def keys(ctx: Context, req: Request) -> Reply:
    """GET /v2/keys: the signing keys (also the JS SDK's health check)."""
    return Reply(200, {"current": ctx.config.current_signing_key, "next": ctx.config.next_signing_key})
