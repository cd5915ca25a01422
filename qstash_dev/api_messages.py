"""Publishing and managing messages: /v2/publish, /v2/enqueue, /v2/batch, /v2/messages."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any
from urllib.parse import unquote

from . import filters, messages, topics
from .filters import count_of, params_of
from .options import NAME, MessageOptions, OptionError, normalize_destination, parse_options
from .views import message_json
from .web import ApiError, Context, Reply, Request

__all__ = ["destination", "publish", "enqueue", "batch", "get_message", "cancel_message",
           "cancel_messages", "check_name"]

def check_name(raw: str, what: str) -> str:
    """A queue name or schedule id from a path or header, validated."""
    name = unquote(raw)
    if not NAME.fullmatch(name):
        raise ApiError(400, f"{what} {name!r} is invalid: use 1-200 letters, digits, '_', '-', '.' or ':'")
    return name


def destination(raw: str, req: Request) -> str:
    """The destination from the path: a URL with the request's query string put back, or a group name."""
    dest = normalize_destination(raw)
    if not req.raw_query:
        return dest
    if "://" not in dest:
        raise ApiError(400, f"destination: a URL group name ({dest!r}) takes no query string")
    return f"{dest}?{req.raw_query}"


def _options(req: Request, url: str, headers: list[tuple[str, str]], queue: str | None = None) -> MessageOptions:
    """Parse options, answering 400 for anything invalid."""
    try:
        return parse_options(url, headers, queue=queue)
    except OptionError as exc:
        raise ApiError(400, str(exc)) from None


def _publish(ctx: Context, conn: sqlite3.Connection, opts: MessageOptions, body: bytes, caller_ip: str,
             now: float) -> tuple[Any, bool]:
    """Store one publish; its reply item (a list for a URL group) and whether it was all duplicates."""
    try:
        results = messages.publish_all(conn, opts, body, now=now, dedup_window=ctx.config.dedup_window,
                                       caller_ip=caller_ip)
    except topics.UnknownGroup as exc:
        raise ApiError(400, f"destination: {exc}; create it with POST /v2/topics/{exc.name}/endpoints") from None
    items = [{"messageId": message_id, **({"url": url} if opts.topic else {}),
              **({"deduplicated": True} if duplicate else {})} for message_id, url, duplicate in results]
    return (items if opts.topic else items[0]), all(duplicate for _, _, duplicate in results)


def _accepted(ctx: Context, req: Request, opts: MessageOptions) -> Reply:
    """Commit one publish (or find its duplicate), then wake the engine."""
    with ctx.db.write() as conn:
        item, duplicate = _publish(ctx, conn, opts, req.body, req.client_ip, time.time())
    if duplicate:
        return Reply(202, item)
    ctx.engine.wake()
    return Reply(201, item)


def publish(ctx: Context, req: Request, dest: str) -> Reply:
    """POST /v2/publish/{destination}: to a URL, or to each endpoint of a URL group."""
    return _accepted(ctx, req, _options(req, destination(dest, req), req.headers))


def enqueue(ctx: Context, req: Request, queue: str, dest: str) -> Reply:
    """POST /v2/enqueue/{queue}/{destination}: the queue is created on first use."""
    name = check_name(queue, "queue name")
    return _accepted(ctx, req, _options(req, destination(dest, req), req.headers, queue=name))


def _batch_item(req: Request, item: Any, index: int) -> tuple[MessageOptions, bytes]:
    """One element of a batch, as the SDKs send it: {destination, headers, body, queue}."""
    if not isinstance(item, dict) or not isinstance(item.get("destination"), str):
        raise ApiError(400, f"batch[{index}]: expected an object with a string 'destination'")
    headers = item.get("headers") or {}
    if not isinstance(headers, dict):
        raise ApiError(400, f"batch[{index}].headers: expected an object")
    body = item.get("body")
    raw = b"" if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    queue = check_name(item["queue"], "queue name") if item.get("queue") else None
    try:
        opts = parse_options(normalize_destination(item["destination"]),
                             [(str(k), str(v)) for k, v in headers.items()], queue=queue)
    except OptionError as exc:
        raise ApiError(400, f"batch[{index}]: {exc}") from None
    return opts, raw


def batch(ctx: Context, req: Request) -> Reply:
    """POST /v2/batch: all messages are validated, then committed together (a group item is a list)."""
    items = req.json()
    if not isinstance(items, list) or not items:
        raise ApiError(400, "batch body must be a non-empty JSON array of messages")
    parsed = [_batch_item(req, item, i) for i, item in enumerate(items)]
    with ctx.db.write() as conn:
        now = time.time()
        results = []
        for index, (opts, body) in enumerate(parsed):
            try:
                results.append(_publish(ctx, conn, opts, body, req.client_ip, now)[0])
            except ApiError as exc:  # rolls the whole batch back
                raise ApiError(exc.status, f"batch[{index}]: {exc.message}") from None
    ctx.engine.wake()
    return Reply(200, results)


def get_message(ctx: Context, req: Request, message_id: str) -> Reply:
    """GET /v2/messages/{id}: a pending message, or a finished one within the retention window."""
    retention = ctx.config.retention
    with ctx.db.read() as conn:
        row = conn.execute("SELECT * FROM messages WHERE id = ? AND (finished_at IS NULL OR finished_at >= ?)",
                           (message_id, time.time() - retention)).fetchone()
    if row is None:
        raise ApiError(404, f"message {message_id} not found (finished messages are kept for {retention:g} s)")
    return Reply(200, message_json(row))


def cancel_message(ctx: Context, req: Request, message_id: str) -> Reply:
    """DELETE /v2/messages/{id}."""
    with ctx.db.write() as conn:
        count = messages.cancel(conn, time.time(), "id = ?", (message_id,))
    if not count:
        raise ApiError(404, f"message {message_id} not found or already finished")
    return Reply(200, {"cancelled": count})  # the JS SDK parses this reply; the Python SDK ignores it


def cancel_messages(ctx: Context, req: Request) -> Reply:
    """DELETE /v2/messages: by `messageIds` and/or filters (query or JSON body), at most `count`; all if none."""
    params = params_of(req, body=True)
    clauses, args = filters.CANCEL.where(params)
    limit = count_of(params, default=None, maximum=500, clamp=False)
    with ctx.db.write() as conn:
        count = messages.cancel(conn, time.time(), " AND ".join(clauses), args, limit)
    return Reply(200, {"cancelled": count})
