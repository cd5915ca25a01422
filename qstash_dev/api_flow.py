"""Flow control: /v2/flowControl, its pause, resume, pin, unpin and resetRate, and /v2/globalParallelism."""

from __future__ import annotations

import time

from . import flow
from .api_messages import check_name
from .filters import Params, params_of
from .options import MAX_FLOW_LIMIT, MAX_FLOW_PERIOD_SECONDS
from .web import ApiError, Context, Reply, Request

__all__ = ["list_keys", "get_key", "pause_key", "resume_key", "pin_key", "unpin_key", "reset_rate",
           "global_parallelism"]


def _only(params: Params, allowed: set[str], what: str) -> dict[str, str]:
    """Single-valued query parameters, all of them known."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ApiError(400, f"{what} does not take {unknown[0]!r}; it takes {', '.join(sorted(allowed))}")
    if any(len(values) != 1 for values in params.values()):
        raise ApiError(400, f"{what}: give each parameter once")
    return {name: values[0] for name, values in params.items()}


def _number(values: dict[str, str], name: str, maximum: int) -> int | None:
    """An optional positive integer parameter."""
    if name not in values:
        return None
    try:
        number = int(values[name])
    except ValueError:
        raise ApiError(400, f"{name}: {values[name]!r} is not an integer") from None
    if not 1 <= number <= maximum:
        raise ApiError(400, f"{name} must be between 1 and {maximum}")
    return number


def _found(changed: bool, key: str) -> Reply:
    """200, or 404 for a key qstash_dev has never seen."""
    if not changed:
        raise ApiError(404, f"flow-control key {key!r} not found")
    return Reply(200)


def list_keys(ctx: Context, req: Request) -> Reply:
    """GET /v2/flowControl: every key with its limits and usage."""
    with ctx.db.read() as conn:
        return Reply(200, flow.info(conn, None, time.time()))


def get_key(ctx: Context, req: Request, key: str) -> Reply:
    """GET /v2/flowControl/{key}."""
    with ctx.db.read() as conn:
        found = flow.info(conn, key, time.time())
    if not found:
        raise ApiError(404, f"flow-control key {key!r} not found")
    return Reply(200, found[0])


def _set_paused(ctx: Context, key: str, paused: bool) -> Reply:
    """Pause (a key may be paused before its first message) or resume."""
    check_name(key, "flow-control key")
    with ctx.db.write() as conn:
        changed = flow.set_paused(conn, key, paused, time.time(), create=paused)
    ctx.engine.wake()
    return _found(changed, key)


def pause_key(ctx: Context, req: Request, key: str) -> Reply:
    """POST /v2/flowControl/{key}/pause: its messages wait; new ones join the wait list."""
    return _set_paused(ctx, key, True)


def resume_key(ctx: Context, req: Request, key: str) -> Reply:
    """POST /v2/flowControl/{key}/resume."""
    return _set_paused(ctx, key, False)


def pin_key(ctx: Context, req: Request, key: str) -> Reply:
    """POST /v2/flowControl/{key}/pin?parallelism=&rate=&period=: fixed limits, rate state reset."""
    check_name(key, "flow-control key")
    values = _only(params_of(req), {"parallelism", "rate", "period"}, "pin")
    parallelism = _number(values, "parallelism", MAX_FLOW_LIMIT)
    rate = _number(values, "rate", MAX_FLOW_LIMIT)
    period = _number(values, "period", MAX_FLOW_PERIOD_SECONDS)
    if parallelism is None and rate is None:
        raise ApiError(400, "pin: give parallelism and/or rate (and period, in seconds, with rate)")
    if period is not None and rate is None:
        raise ApiError(400, "pin: period goes with rate")
    with ctx.db.write() as conn:
        flow.pin(conn, key, parallelism, rate, period, time.time())
    ctx.engine.wake()
    return Reply(200)


def unpin_key(ctx: Context, req: Request, key: str) -> Reply:
    """POST /v2/flowControl/{key}/unpin?parallelism=true&rate=true."""
    values = _only(params_of(req), {"parallelism", "rate"}, "unpin")
    if not values or any(v not in ("true", "false") for v in values.values()):
        raise ApiError(400, "unpin: give parallelism=true and/or rate=true")
    with ctx.db.write() as conn:
        changed = flow.unpin(conn, key, values.get("parallelism") == "true", values.get("rate") == "true",
                             time.time())
    return _found(changed, key)


def reset_rate(ctx: Context, req: Request, key: str) -> Reply:
    """POST /v2/flowControl/{key}/resetRate: the rate count starts again from now."""
    with ctx.db.write() as conn:
        changed = flow.reset_rate(conn, key, time.time())
    ctx.engine.wake()
    return _found(changed, key)


def global_parallelism(ctx: Context, req: Request) -> Reply:
    """GET /v2/globalParallelism: the delivery workers, and how many attempts are in flight."""
    with ctx.db.read() as conn:
        active = conn.execute("SELECT COUNT(*) FROM messages WHERE state = 'active'").fetchone()[0]
    return Reply(200, {"parallelismMax": ctx.config.workers, "parallelismCount": active})
