"""The HTML dashboard: workflows, approvals, settings (tokens), and the health check."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.render import page_or_fragment
from extensions import db
from models import utcnow
from workflows.authoring import owned
from workflows.errors import Invalid
from workflows.integrations import accounts, linkedin

bp = Blueprint("dashboard", __name__)


@bp.app_context_processor
def _navigation_counts() -> dict:
    if not current_user.is_authenticated:
        return {}
    return {"pending_approvals": owned.pending_approval_count(current_user.id)}


@bp.get("/")
@login_required
def index():
    """The user's workflows."""
    workflows = owned.workflows_for(current_user.id)
    return render_template("dashboard/index.html", workflows=workflows)


@bp.get("/approvals")
@login_required
def approvals():
    """Approvals waiting for the user."""
    items = owned.approvals_for(current_user.id, status="pending")
    return render_template("dashboard/approvals.html", approvals=items)


@bp.get("/settings")
@login_required
def settings():
    """Account settings: API tokens and the LinkedIn connection."""
    return render_template("dashboard/settings.html", **_settings_context())


def _settings_context(**extra: object) -> dict:
    return {
        "tokens": accounts.user_tokens(current_user),
        "linkedin": linkedin.credential_status(current_user.id, utcnow()),
        **extra,
    }


@bp.post("/settings/tokens")
@login_required
def create_token():
    """Create an API token and show it once."""
    error = None
    new_token = None
    try:
        _, new_token = accounts.create_token(current_user, request.form.get("name", ""))
    except Invalid as exc:
        error = exc.message
    return page_or_fragment(
        "dashboard/settings.html", "dashboard/_tokens.html",
        **_settings_context(new_token=new_token, token_error=error),
    )


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's API tokens."""
    if not accounts.revoke_token(current_user, token_id):
        abort(404)
    return page_or_fragment("dashboard/settings.html", "dashboard/_tokens.html", **_settings_context())


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
    except Exception:  # any driver error means "not healthy", never a traceback
        db.session.rollback()
        return jsonify(status="unavailable", error="database unreachable"), 503
    return jsonify(status="ok")


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it; point them at the SVG icon."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)
