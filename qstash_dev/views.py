"""Rows to the JSON shapes the qstash SDKs parse (field names are Upstash's, camelCase)."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any, Iterable

from .cron import parse_cron
from .options import FlowControl, MessageOptions, callback_options, canonical_header, split_labels
from .redact import Redaction
from .schedules import schedule_options

__all__ = ["header_map", "b64", "body_fields", "label_fields", "flow_fields", "row_flow", "message_state",
           "message_json", "dlq_json", "event_json", "schedule_json", "queue_json", "SCHEDULE_STATES"]

# A schedule's last tick as the SDK's ScheduleState knows it.
SCHEDULE_STATES = {"pending": "IN_PROGRESS", "active": "IN_PROGRESS", "delivered": "SUCCESS",
                   "failed": "FAIL", "canceled": "FAIL"}


def header_map(pairs: Iterable[Iterable[str]]) -> dict[str, list[str]]:
    """[[name, value], ...] as Go's http.Header: {Canonical-Name: [values]}."""
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(canonical_header(name), []).append(value)
    return result


def b64(data: bytes | None) -> str:
    """Standard base64 text."""
    return base64.b64encode(data or b"").decode("ascii")


def body_fields(body: bytes | None, key: str = "body") -> dict[str, str]:
    """`body` when the bytes are UTF-8, else `bodyBase64`, as Upstash returns them; none when empty."""
    if not body:
        return {}
    try:
        return {key: body.decode("utf-8")}
    except UnicodeDecodeError:
        return {key + "Base64": b64(body)}


def label_fields(stored: str | None) -> dict[str, Any]:
    """`label` (the first, as older SDKs read it) and `labels` (all of them)."""
    labels = split_labels(stored)
    return {"label": labels[0], "labels": labels} if labels else {}


def flow_fields(settings: FlowControl | None) -> dict[str, Any]:
    """`flowControlKey`, `parallelism`, `rate`, `period` as on QStash's messages and schedules."""
    if settings is None:
        return {}
    return {"flowControlKey": settings.key, "parallelism": settings.parallelism, "rate": settings.rate,
            "period": settings.period}


def row_flow(row: sqlite3.Row) -> FlowControl | None:
    """A message row's flow-control settings."""
    if not row["flow_key"]:
        return None
    return FlowControl(row["flow_key"], row["flow_parallelism"], row["flow_rate"], row["flow_period"] or 1)


def _shown(redaction: Redaction | None, headers: Iterable[Iterable[str]],
           body: bytes | None) -> tuple[list[tuple[str, str]], bytes]:
    """A message's headers and body as reads show them: redacted parts hidden."""
    pairs = [(name, value) for name, value in headers]
    if redaction is None:
        return pairs, body or b""
    return redaction.apply_headers(pairs), redaction.apply_body(body or b"")


def _row_shown(row: sqlite3.Row) -> tuple[list[tuple[str, str]], bytes]:
    """A stored message's headers and body as reads show them."""
    return _shown(Redaction.parse(row["redact"]), json.loads(row["headers"] or "[]"), row["body"])


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the optional fields that are unset."""
    return {k: v for k, v in data.items() if v is not None and v != {}}


def _callback_headers(config_json: str, url: str | None) -> dict[str, list[str]] | None:
    """The headers a callback would be sent with (besides Content-Type)."""
    if not url:
        return None
    try:
        opts = callback_options(url, [tuple(p) for p in json.loads(config_json)])
    except ValueError:
        return None
    return header_map(p for p in opts.headers if p[0] != "Content-Type")


def message_state(row: sqlite3.Row) -> str:
    """Where a message is, in the words of the log: CREATED, RETRY, ACTIVE, DELIVERED, FAILED, CANCELED."""
    if row["state"] == "pending":
        return "RETRY" if row["retried"] else "CREATED"
    return {"active": "ACTIVE", "canceled": "CANCELED"}.get(row["state"], row["state"].upper())


def message_json(row: sqlite3.Row) -> dict[str, Any]:
    """A message as GET /v2/messages/{id} returns it (with its state, which QStash leaves out)."""
    headers, body = _row_shown(row)
    return _compact({
        "messageId": row["id"],
        "url": row["url"],
        "method": row["method"],
        "header": header_map(headers),
        **body_fields(body),
        "maxRetries": row["max_retries"],
        "retryDelayExpression": row["retry_delay"],
        "notBefore": row["not_before"],
        "createdAt": row["created_at"],
        "callback": row["callback"],
        "failureCallback": row["failure_callback"],
        "callbackHeader": _callback_headers(row["callback_config"], row["callback"]),
        "failureCallbackHeader": _callback_headers(row["failure_callback_config"], row["failure_callback"]),
        "queueName": row["queue"],
        "scheduleId": row["schedule_id"],
        "callerIP": row["caller_ip"],
        **label_fields(row["label"]),
        "topicName": row["topic_name"],
        "endpointName": row["endpoint_name"],
        **flow_fields(row_flow(row)),
        "state": message_state(row),
    })


def dlq_json(row: sqlite3.Row) -> dict[str, Any]:
    """A DLQ entry: the message plus the last failed response."""
    return _compact({
        **message_json(row),
        "dlqId": row["dlq_id"],
        "responseStatus": row["response_status"],
        "responseHeader": header_map(json.loads(row["response_headers"])),
        **body_fields(row["response_body"], "responseBody"),
    })


def event_json(row: sqlite3.Row) -> dict[str, Any]:
    """A log entry of GET /v2/events (the message's fields joined in)."""
    has_response = row["response_status"] is not None
    headers, body = _row_shown(row)
    return _compact({
        "time": row["time"],
        "messageId": row["message_id"],
        "state": row["state"],
        "error": row["error"],
        "nextDeliveryTime": row["next_delivery_time"],
        "url": row["url"] or "",
        "method": row["method"],
        "header": header_map(headers),
        "body": b64(body) if body else None,
        "queueName": row["queue"],
        "scheduleId": row["schedule_id"],
        "topicName": row["topic_name"],
        "endpointName": row["endpoint_name"],
        **label_fields(row["label"]),
        **flow_fields(row_flow(row)),
        "maxRetries": row["max_retries"],
        "retryDelayExpression": row["retry_delay"],
        "retryDelayExpr": row["retry_delay"],  # the name the Python SDK reads
        "timeout": int(row["timeout"] * 1000) if row["timeout"] else None,
        "callback": row["callback"],
        "failureCallback": row["failure_callback"],
        "responseStatus": row["response_status"],
        "responseHeader": header_map(json.loads(row["response_headers"])) if has_response else None,
        "responseBody": b64(row["response_body"]) if has_response else None,
    })


def schedule_json(row: sqlite3.Row, last_states: dict[str, str]) -> dict[str, Any]:
    """A schedule as GET /v2/schedules/{id} returns it; `last_states`: its last tick's messages."""
    error = None
    try:
        parse_cron(row["cron"])
        opts = schedule_options(row)
    except ValueError as exc:  # a cron or options that no longer parse: show the schedule anyway
        opts, error = MessageOptions(url=row["destination"]), str(exc)
    config = json.dumps(opts.callback_config), json.dumps(opts.failure_callback_config)
    headers, body = _shown(opts.redact, opts.headers, row["body"])
    return _compact({
        "error": error,
        "scheduleId": row["id"],
        "cron": row["cron"],
        "createdAt": row["created_at"],
        "destination": row["destination"],
        "method": opts.method,
        "header": header_map(headers),
        **body_fields(body),
        "retries": opts.retries,
        "retryDelayExpression": opts.retry_delay,
        "delay": int(opts.delay) if opts.delay else None,
        "timeout": int(opts.timeout) if opts.timeout else None,
        "callback": opts.callback,
        "failureCallback": opts.failure_callback,
        "callbackHeader": _callback_headers(config[0], opts.callback),
        "failureCallbackHeader": _callback_headers(config[1], opts.failure_callback),
        "callerIP": row["caller_ip"],
        "isPaused": bool(row["paused"]),
        "queueName": opts.queue,
        **label_fields(opts.label),
        **flow_fields(opts.flow),
        "lastScheduleTime": int(row["last_fire_at"] * 1000) if row["last_fire_at"] else None,
        "nextScheduleTime": int(row["next_fire_at"] * 1000),
        "lastScheduleStates": {message_id: SCHEDULE_STATES.get(state, "IN_PROGRESS")
                               for message_id, state in last_states.items()} or None,
    })


def queue_json(row: sqlite3.Row, lag: int) -> dict[str, Any]:
    """A queue as GET /v2/queues/{name} returns it."""
    return {"name": row["name"], "parallelism": row["parallelism"], "createdAt": row["created_at"],
            "updatedAt": row["updated_at"], "lag": lag, "paused": bool(row["paused"])}
