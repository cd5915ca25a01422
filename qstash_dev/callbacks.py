"""Callback and failure-callback messages, with the bodies Upstash documents.

A callback is published after each attempt that got an HTTP response; a failure
callback once, when the message lands in the DLQ. Both are ordinary signed
messages to their own URL (sub = the callback URL), configured by the source's
`Upstash-Callback-*` / `Upstash-Failure-Callback-*` headers.
"""

from __future__ import annotations

import json

from .messages import Attempt, Response
from .options import MessageOptions, OptionError, callback_options
from .views import b64, header_map

__all__ = ["callback_body", "followups"]


def callback_body(attempt: Attempt, response: Response, dlq_id: str | None = None) -> bytes:
    """The JSON body of a (failure) callback about one attempt."""
    row = attempt.row
    body = {
        "status": response.status,
        "header": header_map(response.headers),
        "body": b64(response.body if response.status else (response.error or "").encode()),
        "retried": attempt.retried,
        "maxRetries": attempt.max_retries,
        "sourceMessageId": attempt.id,
        "url": attempt.url,
        "method": attempt.method,
        "sourceHeader": header_map(attempt.headers),
        "sourceBody": b64(attempt.body),
        # Upstash documents these two as strings of unix milliseconds.
        "notBefore": str(row["not_before"]),
        "createdAt": str(row["created_at"]),
    }
    if dlq_id:
        body["dlqId"] = dlq_id
    if row["schedule_id"]:
        body["scheduleId"] = row["schedule_id"]
    if row["caller_ip"]:
        body["callerIP"] = row["caller_ip"]
    return json.dumps(body).encode()


def _options(url: str, config_json: str) -> MessageOptions | None:
    """Callback options; a config that no longer parses falls back to the defaults."""
    config = [tuple(pair) for pair in json.loads(config_json)]
    try:
        return callback_options(url, config)
    except OptionError:
        return callback_options(url, [])


def followups(attempt: Attempt, response: Response, *, failed: bool,
              dlq_id: str | None) -> list[tuple[MessageOptions, bytes, str]]:
    """The callback messages one attempt's outcome publishes (none for callbacks themselves)."""
    row = attempt.row
    if attempt.kind != "message":
        return []
    result = []
    if row["callback"] and response.status:
        opts = _options(row["callback"], row["callback_config"])
        result.append((opts, callback_body(attempt, response), "callback"))
    if failed and row["failure_callback"]:
        opts = _options(row["failure_callback"], row["failure_callback_config"])
        result.append((opts, callback_body(attempt, response, dlq_id), "failure_callback"))
    return result
