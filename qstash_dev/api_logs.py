"""What happened: the DLQ (/v2/dlq), the log (/v2/events, /v2/logs) and /v2/keys."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from typing import Any

from . import filters, messages
from .filters import FilterSet, Params, count_of, params_of
from .options import OptionError, parse_options
from .views import dlq_json, event_json, row_flow
from .web import ApiError, Context, Reply, Request

__all__ = ["list_dlq", "get_dlq", "delete_dlq", "delete_dlq_many", "retry_dlq", "retry_dlq_many",
           "list_events", "list_logs", "keys"]

_DLQ_SELECT = ("SELECT m.*, d.dlq_id, d.response_status, d.response_headers, d.response_body,"
               " d.rowid AS cursor_id FROM dlq d JOIN messages m ON m.id = d.message_id")
_EVENT_SELECT = ("SELECT e.*, m.url, m.method, m.headers, m.body, m.queue, m.schedule_id, m.label,"
                 " m.max_retries, m.retry_delay, m.timeout, m.callback, m.failure_callback, m.topic_name,"
                 " m.endpoint_name, m.flow_key, m.flow_parallelism, m.flow_rate, m.flow_period, m.redact"
                 " FROM events e LEFT JOIN messages m ON m.id = e.message_id")
BULK_COUNT = 100  # DLQ entries one bulk delete or retry handles when no ids are given


def _cursor(params: Params) -> int | None:
    """The `cursor` parameter (a row number)."""
    raw = params.get("cursor")
    try:
        return int(raw[0]) if raw and raw[0] else None
    except ValueError:
        raise ApiError(400, "cursor is not one this server returned") from None


def _page(conn: sqlite3.Connection, params: Params, filters: FilterSet,
          count: int | None) -> tuple[list[sqlite3.Row], str | None]:
    """DLQ entries matching the filters, earliest first, from the cursor; with the next cursor."""
    clauses, args = filters.where(params)
    cursor = _cursor(params)
    if cursor is not None:
        clauses.append("d.rowid > ?")
        args.append(cursor)
    limit = -1 if count is None else count + 1
    rows = conn.execute(f"{_DLQ_SELECT} WHERE {' AND '.join(clauses)} ORDER BY d.rowid LIMIT ?",
                        (*args, limit)).fetchall()
    if count is not None and len(rows) > count:
        rows = rows[:count]
        return rows, str(rows[-1]["cursor_id"])
    return rows, None


def list_dlq(ctx: Context, req: Request) -> Reply:
    """GET /v2/dlq: earliest first, `count` (max 100) at a time with a `cursor`."""
    params = params_of(req)
    count = count_of(params, default=100, maximum=100, clamp=True)
    with ctx.db.read() as conn:
        rows, cursor = _page(conn, params, filters.DLQ_LIST, count)
    body: dict[str, Any] = {"messages": [dlq_json(row) for row in rows]}
    if cursor:
        body["cursor"] = cursor
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


def _bulk(conn: sqlite3.Connection, params: Params, filters: FilterSet) -> tuple[list[sqlite3.Row], str | None]:
    """The entries a bulk delete or retry acts on: the given `dlqIds` (all of them, unless
    `count`) or, without ids, at most `count` (100) matching the filters, with a cursor."""
    default = None if params.get("dlqIds") else BULK_COUNT
    return _page(conn, params, filters, count_of(params, default=default, maximum=BULK_COUNT, clamp=True))


def delete_dlq_many(ctx: Context, req: Request) -> Reply:
    """DELETE /v2/dlq: by `dlqIds` (JSON body or query) and/or filters; all (100 at a time) if none."""
    params = params_of(req, body=True)
    with ctx.db.write() as conn:
        rows, cursor = _bulk(conn, params, filters.DLQ_DELETE)
        deleted = sum(conn.execute("DELETE FROM dlq WHERE dlq_id = ?", (r["dlq_id"],)).rowcount for r in rows)
    return Reply(200, {"deleted": deleted, **({"cursor": cursor} if cursor else {})})


def _republish(conn: sqlite3.Connection, req: Request, row: sqlite3.Row) -> str:
    """Publish a DLQ message again (request headers override its settings) and drop the entry."""
    pairs = [("Upstash-Method", row["method"]), ("Upstash-Retries", str(row["max_retries"]))]
    pairs += [(n, v) if n.lower() == "content-type" else (f"Upstash-Forward-{n}", v)
              for n, v in json.loads(row["headers"])]
    for header, column in (("Upstash-Retry-Delay", "retry_delay"), ("Upstash-Callback", "callback"),
                           ("Upstash-Failure-Callback", "failure_callback"), ("Upstash-Label", "label"),
                           ("Upstash-Redact-Fields", "redact")):
        if row[column]:
            pairs.append((header, row[column]))
    if row["timeout"]:
        pairs.append(("Upstash-Timeout", f"{row['timeout']}s"))
    if (settings := row_flow(row)) is not None:
        pairs += [("Upstash-Flow-Control-Key", settings.key), ("Upstash-Flow-Control-Value", settings.header_value())]
    pairs += [(f"Upstash-Callback-{n}", v) for n, v in json.loads(row["callback_config"])]
    pairs += [(f"Upstash-Failure-Callback-{n}", v) for n, v in json.loads(row["failure_callback_config"])]
    pairs += [(n, v) for n, v in req.headers if n.lower().startswith("upstash-")]
    try:
        opts = parse_options(row["url"], pairs, queue=row["queue"])
    except OptionError as exc:
        raise ApiError(400, str(exc)) from None
    # A URL group's message goes again to its own endpoint only, still under the group's name.
    opts = replace(opts, topic=row["topic_name"], endpoint_name=row["endpoint_name"])
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
    """POST /v2/dlq/retry: the given `dlqIds` (404 if one is missing) and/or matching entries."""
    params = params_of(req, body=True)
    with ctx.db.write() as conn:
        rows, cursor = _bulk(conn, params, filters.DLQ_RETRY)
        missing = set(params.get("dlqIds") or []) - {row["dlq_id"] for row in rows}
        if missing and "count" not in params:
            raise ApiError(404, f"DLQ message {sorted(missing)[0]} not found")
        responses = [{"messageId": _republish(conn, req, row), "deduplicated": False} for row in rows]
    ctx.engine.wake()
    return Reply(200, {"cursor": cursor, "responses": responses})


def list_events(ctx: Context, req: Request, key: str = "events") -> Reply:
    """GET /v2/events: newest first (or `order=earliestFirst`), `count` (max 1000) with a cursor."""
    params = params_of(req)
    clauses, args = filters.LOGS.where(params)
    order = (params.get("order") or ["latestFirst"])[0]
    if order not in ("latestFirst", "earliestFirst"):
        raise ApiError(400, f"order must be latestFirst or earliestFirst, not {order!r}")
    earliest = order == "earliestFirst"
    cursor, count = _cursor(params), count_of(params, default=1000, maximum=1000, clamp=True)
    if cursor is not None:
        clauses.append("e.id > ?" if earliest else "e.id < ?")
        args.append(cursor)
    with ctx.db.read() as conn:
        rows = conn.execute(f"{_EVENT_SELECT} WHERE {' AND '.join(clauses)} ORDER BY e.id"
                            f" {'ASC' if earliest else 'DESC'} LIMIT ?", (*args, count + 1)).fetchall()
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
