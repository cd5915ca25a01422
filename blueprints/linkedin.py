"""Connect LinkedIn (Settings): the OAuth sign-in, a token pasted by hand, and disconnect."""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required

from blueprints.render import is_htmx, page_or_fragment
from config import Settings
from models import utcnow
from workflows.errors import DomainError
from workflows.integrations import linkedin

bp = Blueprint("linkedin", __name__, url_prefix="/settings/linkedin")

STATE_KEY = "linkedin_oauth_state"
PAGE = "settings/linkedin.html"
PARTIAL = "settings/_linkedin.html"


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _redirect_uri() -> str:
    """The callback LinkedIn sends the browser back to; registered in the LinkedIn app as is."""
    return _settings().app_base_url + url_for("linkedin.callback")


def _back_to_settings():  # type: ignore[no-untyped-def]
    return redirect(url_for("dashboard.settings", _anchor="linkedin"))


def _panel(status: int = 200, **context: object):  # type: ignore[no-untyped-def]
    """The LinkedIn section alone for htmx, else the page that includes it."""
    status_now = linkedin.credential_status(current_user.id, utcnow())
    return page_or_fragment(PAGE, PARTIAL, linkedin=status_now, **context), (200 if is_htmx() else status)


@bp.app_context_processor
def _oauth_flag() -> dict:
    """Whether the partial may offer "Connect LinkedIn" (an OAuth app is configured)."""
    return {"linkedin_oauth_configured": linkedin.oauth_configured(_settings())}


@bp.get("")
@login_required
def show():
    """The LinkedIn section on a page of its own (Settings includes the same partial)."""
    return _panel()


@bp.get("/connect")
@login_required
def connect():
    """Send the browser to LinkedIn to approve posting, with a one-time state."""
    settings = _settings()
    if not linkedin.oauth_configured(settings):
        abort(400, description=(
            "Connecting LinkedIn is not set up on this server: set LINKEDIN_CLIENT_ID and "
            "LINKEDIN_CLIENT_SECRET (a LinkedIn app), or paste an access token on the Settings page."))
    state = secrets.token_urlsafe(32)
    session[STATE_KEY] = state
    return redirect(linkedin.authorization_url(settings, _redirect_uri(), state))


@bp.get("/callback")
@login_required
def callback():
    """LinkedIn's answer: check the state, then store the token (or show LinkedIn's error)."""
    expected = session.pop(STATE_KEY, None)
    state = request.args.get("state", "")
    # The state ties this answer to a Connect click in this session: without it, anyone could
    # make a logged-in user's browser attach the attacker's LinkedIn account (login CSRF).
    if not expected or not secrets.compare_digest(state.encode(), expected.encode()):
        abort(400, description=(
            "This LinkedIn answer does not match a Connect LinkedIn started from your Settings page "
            "(it is stale, used already, or forged); nothing was saved. Start again from Settings."))
    if request.args.get("error"):
        flash("LinkedIn did not connect: "
              + (request.args.get("error_description") or request.args["error"]), "error")
        return _back_to_settings()
    code = request.args.get("code", "")
    if not code:
        abort(400, description="LinkedIn's answer has no authorization code; start again from Settings.")
    try:
        credential = linkedin.connect_with_code(
            _settings(), current_user.id, code, _redirect_uri(), current_app.config["SECRET_KEY"], utcnow())
    except DomainError as exc:
        flash(exc.message, "error")
        return _back_to_settings()
    flash(f"LinkedIn connected{' as ' + credential.label if credential.label else ''}.", "success")
    return _back_to_settings()


@bp.post("/token")
@login_required
def paste_token():
    """Save an access token and member id pasted by hand (optional expiry in days)."""
    form = request.form
    try:
        linkedin.save_pasted_token(current_user.id, form.get("access_token", ""), form.get("member_id", ""),
                                   form.get("expires_in_days"), current_app.config["SECRET_KEY"], utcnow())
    except linkedin.TokenFormError as exc:
        # The token is never sent back to the page, not even to correct it.
        values = {"member_id": form.get("member_id", ""), "expires_in_days": form.get("expires_in_days", "")}
        return _panel(422, linkedin_errors=exc.errors, linkedin_values=values)
    if is_htmx():
        return _panel(linkedin_notice="LinkedIn token saved.")
    flash("LinkedIn token saved.", "success")
    return _back_to_settings()


@bp.post("/disconnect")
@login_required
def disconnect():
    """Forget the stored LinkedIn token."""
    linkedin.disconnect(current_user.id)
    if is_htmx():
        return _panel(linkedin_notice="LinkedIn disconnected.")
    flash("LinkedIn disconnected.", "success")
    return _back_to_settings()
