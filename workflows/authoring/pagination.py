"""Keyset pagination: newest first, with an opaque cursor (docs/architecture.md, *HTTP surface*)."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import sqlalchemy as sa

from extensions import db
from workflows.encoding import b64decode
from workflows.errors import Malformed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page:
    """One page of a list and the cursor of the next one (None on the last page)."""

    items: list[Any]
    next_cursor: str | None


def parse_limit(raw: str | None) -> int:
    """`limit` query parameter: default 50, 1..200."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Malformed(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def _encode(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, columns: Sequence[Any]) -> list[Any]:
    try:
        raw = json.loads(b64decode(cursor, urlsafe=True))
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError
        return [
            datetime.fromisoformat(v) if isinstance(c.type, sa.types.TypeDecorator) else v
            for v, c in zip(raw, columns)
        ]
    except (ValueError, TypeError):
        raise Malformed("cursor is not one this API returned", field="cursor") from None


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
