"""Filters of bulk actions and lists: DELETE /v2/messages, the DLQ and the log.

One rule everywhere, as QStash documents it: every filter an endpoint documents is
honoured, filters combine with AND, and several values of one filter (repeated,
`label=a&label=b`, or comma-separated, `label=a,b`) mean "any of". A parameter the
endpoint does not know, or a filter without a value, is a 400 naming it and nothing
is touched: a dropped filter would widen a bulk cancel to every message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .web import ApiError, Request

__all__ = ["Field", "FilterSet", "Params", "params_of", "count_of", "LOG_STATES", "CANCEL", "DLQ_LIST",
           "DLQ_DELETE", "DLQ_RETRY", "LOGS"]

Params = dict[str, list[str]]

# How one value list is split on commas. A URL or a path may itself hold a comma, so
# those split only where the next value starts (`,https://`, `,/`).
_SPLIT = {"url": re.compile(r",(?=https?://)", re.IGNORECASE), "path": re.compile(r",(?=/)")}
_ANY_COMMA = re.compile(",")

LOG_STATES = ("CREATED", "ACTIVE", "RETRY", "ERROR", "DELIVERED", "FAILED", "CANCEL_REQUESTED", "CANCELED")
_STATE_ALIASES = {"IN_PROGRESS": ("ACTIVE", "RETRY", "ERROR"), "CANCELLED": ("CANCELED",)}


@dataclass(frozen=True)
class Field:
    """One filter: how its values compare with an SQL expression."""

    sql: str
    kind: str = "text"  # text | ids | url | label | host | path | int | state | from | to


@dataclass(frozen=True)
class FilterSet:
    """The filters one endpoint documents, plus its parameters that are not filters."""

    endpoint: str
    fields: Mapping[str, Field]
    others: frozenset[str] = field(default_factory=frozenset)

    def check(self, params: Params) -> None:
        """400 for any parameter this endpoint does not know."""
        unknown = sorted(set(params) - set(self.fields) - self.others)
        if unknown:
            known = ", ".join(sorted(set(self.fields) | self.others))
            raise ApiError(400, f"{self.endpoint} does not support the filter {unknown[0]!r}; "
                                f"it supports {known}")

    def where(self, params: Params) -> tuple[list[str], list[Any]]:
        """SQL conditions (AND-ed) and their parameters for the filters present."""
        self.check(params)
        clauses: list[str] = []
        args: list[Any] = []
        for name, spec in self.fields.items():
            if name in params:
                clause, values = _condition(name, spec, params[name])
                clauses.append(clause)
                args += values
        return clauses or ["1 = 1"], args

    def present(self, params: Params) -> bool:
        """Whether any filter (not just paging parameters) was given."""
        return any(name in params for name in self.fields)


def _values(name: str, spec: Field, raw: list[str]) -> list[str]:
    """Split comma-separated values and refuse empty ones."""
    splitter = _SPLIT.get(spec.kind, _ANY_COMMA)
    values = [part.strip() for value in raw for part in splitter.split(value)]
    if not values or any(not v for v in values):
        raise ApiError(400, f"filter {name!r} needs a value (repeat it or separate values by commas)")
    return values


def _integer(name: str, value: str) -> int:
    """An integer filter value, or a 400."""
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"filter {name!r}: {value!r} is not an integer") from None


def _condition(name: str, spec: Field, raw: list[str]) -> tuple[str, list[Any]]:
    """One filter as an SQL condition with its parameters."""
    if spec.kind == "ids" and not raw:
        return "0 = 1", []  # an explicit empty list of ids names no message
    if spec.kind in ("from", "to"):
        if len(raw) != 1:
            raise ApiError(400, f"filter {name!r} takes one value")
        return f"{spec.sql} {'>=' if spec.kind == 'from' else '<='} ?", [_integer(name, raw[0].strip())]
    values = _values(name, spec, raw)
    if spec.kind == "int":
        args: list[Any] = [_integer(name, v) for v in values]
    elif spec.kind == "state":
        args = [s for v in values for s in _state(v)]
    elif spec.kind == "host":
        args = [v.lower() for v in values]
        marks = _marks(args)
        return f"(url_host({spec.sql}) IN ({marks}) OR url_hostport({spec.sql}) IN ({marks}))", args + args
    elif spec.kind == "label":
        # The column holds the labels comma-separated; a message matches if any label is given.
        one = f"instr(',' || COALESCE({spec.sql}, '') || ',', ',' || ? || ',') > 0"
        return "(" + " OR ".join([one] * len(values)) + ")", list(values)
    else:
        args = list(values)
    target = f"url_path({spec.sql})" if spec.kind == "path" else spec.sql
    return f"{target} IN ({_marks(args)})", args


def _marks(values: list[Any]) -> str:
    """`?, ?, ?` for an IN list."""
    return ", ".join("?" * len(values))


def _state(value: str) -> tuple[str, ...]:
    """A log state filter value, IN_PROGRESS expanded."""
    state = value.upper()
    if state in _STATE_ALIASES:
        return _STATE_ALIASES[state]
    if state not in LOG_STATES:
        raise ApiError(400, f"filter 'state': {value!r} is not one of {', '.join(LOG_STATES)}, IN_PROGRESS")
    return (state,)


def params_of(req: Request, body: bool = False) -> Params:
    """The query parameters; with `body`, also the keys of a JSON object body (the Python SDK's way)."""
    params: Params = {k: list(v) for k, v in req.query.items()}
    if not body:
        return params
    spec = req.json(default={})
    if not isinstance(spec, dict):
        raise ApiError(400, "expected a JSON object body like {\"messageIds\": [...]}")
    for key, value in spec.items():
        if key in params:
            raise ApiError(400, f"{key!r} is given both in the query and in the body; give it once")
        params[key] = _body_values(key, value)
    return params


def _body_values(key: str, value: Any) -> list[str]:
    """A JSON body value as a list of strings."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
        raise ApiError(400, f"{key!r} must be a string, an integer or an array of them")
    return [str(v) for v in items]


def count_of(params: Params, *, default: int | None, maximum: int, clamp: bool) -> int | None:
    """The `count` parameter: 1..maximum (a larger one is clamped where `clamp`), else `default`."""
    raw = params.get("count")
    if not raw:
        return default
    if len(raw) != 1:
        raise ApiError(400, "count takes one value")
    try:
        value = int(raw[0])
    except ValueError:
        raise ApiError(400, f"count: {raw[0]!r} is not an integer") from None
    if value < 1 or (value > maximum and not clamp):
        raise ApiError(400, f"count must be between 1 and {maximum}")
    return min(value, maximum)


# What every filtering endpoint knows about the message (alias `m`).
_MESSAGE_FIELDS = {
    "url": Field("m.url", "url"),
    "topicName": Field("m.topic_name"),
    "queueName": Field("m.queue"),
    "scheduleId": Field("m.schedule_id"),
    "label": Field("m.label", "label"),
    "flowControlKey": Field("m.flow_key"),
    "callerIp": Field("m.caller_ip"),
    "callerIP": Field("m.caller_ip"),  # the older spelling, still documented as deprecated
}
_HOST_PATH = {"host": Field("m.url", "host"), "path": Field("m.url", "path")}

# DELETE /v2/messages. `count` caps how many are cancelled (oldest first).
CANCEL = FilterSet("DELETE /v2/messages", {
    **_MESSAGE_FIELDS, **_HOST_PATH,
    "messageIds": Field("m.id", "ids"),
    "fromDate": Field("m.created_at", "from"),
    "toDate": Field("m.created_at", "to"),
}, frozenset({"count"}))

# The DLQ (aliases `d` and `m`). QStash refuses `host` and `path` here, and so does qstash_dev.
_DLQ_FIELDS = {
    **_MESSAGE_FIELDS,
    "dlqIds": Field("d.dlq_id", "ids"),
    "messageId": Field("m.id"),
    "responseStatus": Field("d.response_status", "int"),
    "fromDate": Field("d.created_at", "from"),
    "toDate": Field("d.created_at", "to"),
}
DLQ_LIST = FilterSet("GET /v2/dlq", _DLQ_FIELDS, frozenset({"cursor", "count"}))
DLQ_DELETE = FilterSet("DELETE /v2/dlq", _DLQ_FIELDS, frozenset({"cursor", "count"}))
DLQ_RETRY = FilterSet("POST /v2/dlq/retry", _DLQ_FIELDS, frozenset({"cursor", "count"}))

# The log (aliases `e` and `m`); `order=earliestFirst` is qstash_dev's own addition.
LOGS = FilterSet("GET /v2/logs", {
    **_MESSAGE_FIELDS, **_HOST_PATH,
    "messageId": Field("e.message_id"),
    "messageIds": Field("e.message_id", "ids"),
    "state": Field("e.state", "state"),
    "fromDate": Field("e.time", "from"),
    "toDate": Field("e.time", "to"),
}, frozenset({"cursor", "count", "order"}))
