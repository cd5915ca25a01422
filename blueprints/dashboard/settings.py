"""Account settings: API tokens and the LinkedIn connection."""
from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user, login_required

from blueprints.dashboard import bp
from blueprints.render import page_or_fragment
from models import utcnow
from workflows.errors import Invalid
from workflows.integrations import accounts, linkedin

PAGE = "settings/index.html"


@bp.get("/settings")
@login_required
def settings():
    """Account settings: API tokens and the LinkedIn connection."""
    return render_template(PAGE, **_settings_context())


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
    return page_or_fragment(PAGE, "settings/_tokens.html", **_settings_context(new_token=new_token, token_error=error))


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's API tokens."""
    if not accounts.revoke_token(current_user, token_id):
        abort(404)
    return page_or_fragment(PAGE, "settings/_tokens.html", **_settings_context())
