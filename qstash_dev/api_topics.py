"""URL groups: /v2/topics and /v2/topics/{name}/endpoints."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from . import topics
from .api_messages import check_name
from .options import OptionError, validate_url
from .topics import Endpoint
from .web import ApiError, Context, Reply, Request

__all__ = ["list_groups", "get_group", "delete_group", "upsert_endpoints", "remove_endpoints"]


def _group_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """A group as the SDKs parse it: {name, createdAt, updatedAt, endpoints: [{url, name?}]}."""
    endpoints = [{"url": e.url, **({"name": e.name} if e.name else {})} for e in topics.endpoints(conn, row["name"])]
    return {"name": row["name"], "createdAt": row["created_at"], "updatedAt": row["updated_at"],
            "endpoints": endpoints}


def list_groups(ctx: Context, req: Request) -> Reply:
    """GET /v2/topics."""
    with ctx.db.read() as conn:
        return Reply(200, [_group_json(conn, row) for row in topics.groups(conn)])


def get_group(ctx: Context, req: Request, name: str) -> Reply:
    """GET /v2/topics/{name}."""
    with ctx.db.read() as conn:
        rows = topics.groups(conn, name)
        if not rows:
            raise ApiError(404, f"URL group {name!r} not found")
        return Reply(200, _group_json(conn, rows[0]))


def delete_group(ctx: Context, req: Request, name: str) -> Reply:
    """DELETE /v2/topics/{name}: 200 also when there was none (the SDKs' tests delete before creating)."""
    with ctx.db.write() as conn:
        topics.delete(conn, name)
    return Reply(200)


def _endpoints(req: Request, removing: bool) -> list[Endpoint]:
    """`{"endpoints": [{url, name}]}` from the body, validated."""
    spec = req.json(default=None)
    items = spec.get("endpoints") if isinstance(spec, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, 'expected a JSON body like {"endpoints": [{"url": "https://...", "name": "optional"}]}')
    result = []
    for index, item in enumerate(items):
        url, name = (item.get("url"), item.get("name")) if isinstance(item, dict) else (None, None)
        if not isinstance(url, (str, type(None))) or not isinstance(name, (str, type(None))):
            raise ApiError(400, f"endpoints[{index}]: url and name must be strings")
        if name:
            check_name(name, f"endpoints[{index}].name")
        if url or not removing:
            try:
                validate_url(url or "", f"endpoints[{index}].url")
            except OptionError as exc:
                raise ApiError(400, str(exc)) from None
        elif not name:
            raise ApiError(400, f"endpoints[{index}]: give the url or the name of the endpoint to remove")
        result.append(Endpoint(url or "", name or None))
    return result


def upsert_endpoints(ctx: Context, req: Request, name: str) -> Reply:
    """POST /v2/topics/{name}/endpoints: create the group if needed, add or rename endpoints."""
    group = check_name(name, "URL group name")
    endpoints = _endpoints(req, removing=False)
    try:
        with ctx.db.write() as conn:
            topics.upsert_endpoints(conn, group, endpoints, time.time())
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return Reply(200)


def remove_endpoints(ctx: Context, req: Request, name: str) -> Reply:
    """DELETE /v2/topics/{name}/endpoints: by url or name; removing the last deletes the group."""
    endpoints = _endpoints(req, removing=True)
    try:
        with ctx.db.write() as conn:
            topics.remove_endpoints(conn, name, endpoints, time.time())
    except topics.UnknownGroup as exc:
        raise ApiError(404, str(exc)) from None
    return Reply(200)
