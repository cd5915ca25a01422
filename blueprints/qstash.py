"""QStash consumers (docs/architecture.md, *The step lifecycle*). Each checks the signature before anything is parsed or stored."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import Blueprint, Response, jsonify, request

from blueprints.common import services
from blueprints.security import signed_endpoint
from models import MAX_ID
from workflows.engine import approvals, consumers, delivery
from workflows.engine.replies import Reply, non_retryable, ok
from workflows.engine.queue_client import body_json, verify_signature

bp = Blueprint("qstash", __name__, url_prefix="/api")


def signed(view: Callable[[Any], Reply]) -> Callable[[], Response]:
    """Verify Upstash-Signature against the raw body and APP_BASE_URL + path; 401 otherwise."""

    @wraps(view)
    def wrapper() -> Response:
        raw = request.get_data(as_text=True)
        problem = verify_signature(
            services().settings, request.headers.get("Upstash-Signature"), raw,
            services().url(request.path),
        )
        if problem:
            return _respond(Reply(401, {"error": f"signature rejected: {problem}"}))
        return _respond(view(body_json(raw)))

    return signed_endpoint(wrapper)


def _respond(reply: Reply) -> Response:
    response = jsonify(reply.body)
    response.status_code = reply.status
    response.headers.update(reply.headers)
    return response


@bp.post("/workflows/step")
@signed
def run_step(data: Any) -> Reply:
    """One step of one run."""
    return delivery.handle_step(services(), data)


@bp.post("/workflows/trigger")
@signed
def trigger_run(data: Any) -> Reply:
    """A schedule tick starts a run."""
    return consumers.handle_trigger(services(), data, request.headers.get("Upstash-Message-Id"),
                                    request.headers.get("Upstash-Schedule-Id"))


@bp.post("/workflows/failed")
@signed
def step_failed(data: Any) -> Reply:
    """QStash gave up on a step message."""
    return consumers.handle_failure(services(), data)


@bp.post("/approvals/expire")
@signed
def expire_approval(data: Any) -> Reply:
    """An approval's time is up."""
    approval_id = data.get("approvalId") if isinstance(data, dict) else None
    if not isinstance(approval_id, int) or isinstance(approval_id, bool) or not 0 < approval_id <= MAX_ID:
        return non_retryable('expire body must be {"approvalId": <int>}')
    expired = approvals.expire(services(), approval_id)
    return ok("expired" if expired else "already decided")


@bp.post("/maintenance/sweep")
@signed
def sweep(data: Any) -> Reply:
    """The minute sweep."""
    return ok("swept", **consumers.sweep(services()))
