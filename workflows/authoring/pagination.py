"""Keyset pagination: newest first, with an opaque cursor (docs/architecture.md, *HTTP surface*)."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

import sqlalchemy as sa

from extensions import db
from models import MAX_ID
from workflows.encoding import b64decode, loads_strict
from workflows.errors import Malformed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR_CHARS = 500


@dataclass(frozen=True)
class Page:
    """One page of a list and the cursor of the next one (None on the last page)."""

    items: list[Any]
    next_cursor: str | None


def parse_limit(raw: str | None) -> int:
    """`limit` query parameter: default 50, 1..200."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    # str.isdigit() is true for "²" and "٣" too, which int() then refuses: ASCII digits only.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= MAX_LIMIT:
        raise Malformed(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def _encode(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, columns: Sequence[Any]) -> list[Any]:
    """The cursor's values, each checked against its column's type (a cursor is client input)."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError
        raw = loads_strict(b64decode(cursor, urlsafe=True))
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError
        return [_value(v, c) for v, c in zip(raw, columns)]
    except (ValueError, TypeError, UnicodeDecodeError):
        raise Malformed("cursor is not one this API returned", field="cursor") from None


def _value(value: Any, column: Any) -> Any:
    """One cursor value as its column holds it; ValueError when it cannot be one."""
    kind = column.type.python_type if not isinstance(column.type, sa.types.TypeDecorator) else datetime
    if kind is datetime and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed
    if kind is int and type(value) is int and abs(value) <= MAX_ID:
        return value
    if kind is str and isinstance(value, str):
        return value
    raise ValueError(f"cursor value {value!r} does not fit column {column.key}")


def paginate(query: sa.Select, columns: Sequence[Any], limit: int, cursor: str | None) -> Page:
    """Run `query` newest first by `columns` (unique together), one page after `cursor`."""
    if cursor:
        query = query.where(sa.tuple_(*columns) < sa.tuple_(*_decode(cursor, columns)))
    rows = list(db.session.scalars(query.order_by(*[c.desc() for c in columns]).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode([getattr(last, c.key) for c in columns])
    return Page(rows, next_cursor)
