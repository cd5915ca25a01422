"""The JSON API (section 4), authenticated by Bearer token or session cookie."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from blueprints.security import api_user
from workflows import queries
from workflows.errors import DomainError
from workflows.pagination import parse_limit

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def _authenticate() -> None:
    g.user = api_user()


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):  # type: ignore[no-untyped-def]
    body = {"error": error.message}
    if error.field:
        body["field"] = error.field
    return jsonify(body), error.status


def _page_params() -> tuple[int, str | None]:
    return parse_limit(request.args.get("limit")), request.args.get("cursor") or None


@bp.get("/workflows")
def list_workflows():
    """The caller's workflows, newest first."""
    limit, cursor = _page_params()
    page = queries.workflows_for(g.user.id, limit, cursor)
    return jsonify(items=[{"id": w.id, "goal": w.goal} for w in page.items], nextCursor=page.next_cursor)
