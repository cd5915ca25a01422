"""Account settings: email, password, notifications, time zone, API tokens (LinkedIn is
blueprints/linkedin.py). Each section is a form that swaps itself over htmx."""
from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user, login_required

from blueprints.common import services
from blueprints.dashboard import bp
from blueprints.render import browser_zone_name, is_htmx, page_or_fragment
from models import utcnow
from workflows.authoring.definitions import timezone_names
from workflows.engine import sending
from workflows.errors import Invalid, NotFound
from workflows.integrations import accounts, linkedin, profile

PAGE = "settings/index.html"


@bp.get("/settings")
@login_required
def settings():
    """Account settings."""
    return render_template(PAGE, **_settings_context())


def _settings_context(**extra: object) -> dict:
    return {
        "tokens": accounts.user_tokens(current_user),
        "linkedin": linkedin.credential_status(current_user.id, utcnow()),
        "unsent": sending.unsent_for(current_user.id),
        "smtp": services().mailer is not None,
        "zone_choices": _zone_choices(),
        **extra,
    }


def _zone_choices() -> list[tuple[str, str]]:
    browser = browser_zone_name() or "unknown; UTC meanwhile"
    return [("", f"Your browser's ({browser})")] + [(zone, zone) for zone in timezone_names()]


def _section(name: str, status: int = 200, **extra: object):
    """Re-render one section (alone for htmx); a validation error is a 422 without htmx."""
    return page_or_fragment(PAGE, f"settings/_{name}.html", **_settings_context(**extra)), \
        (200 if is_htmx() else status)


@bp.post("/settings/email")
@login_required
def change_email():
    """Change the account's email (the one to log in with), after the current password."""
    try:
        profile.change_email(current_user, request.form.get("current_password", ""), request.form.get("email", ""))
    except Invalid as error:
        return _section("account", 422, account_errors={error.field or "email": error.message},
                        account_email=request.form.get("email", ""))
    return _section("account", account_notice="Your account email is now " + current_user.email + ".")


@bp.post("/settings/password")
@login_required
def change_password():
    """Change the password; every other session of the account ends."""
    try:
        ended = profile.change_password(current_user, request.form.get("current_password", ""),
                                        request.form.get("new_password", ""))
    except Invalid as error:
        return _section("password", 422, password_errors={error.field or "new_password": error.message})
    others = f" {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
    return _section("password", password_notice="Your password has been changed." + others)


@bp.post("/settings/notifications")
@login_required
def change_notifications():
    """Where notifications go, and whether to mail on run failure and completion."""
    address = request.form.get("notification_email", "")
    try:
        outcome = profile.set_notification_email(services(), current_user, address)
    except Invalid as error:
        return _section("notifications", 422, notify_error=error.message, notify_value=address)
    profile.set_notifications(current_user, bool(request.form.get("notify_on_failure")),
                              bool(request.form.get("notify_on_completion")))
    notice = {"pending": f"We sent a link to {current_user.pending_notification_email}: open it to start "
                         f"receiving notifications there. Until then they go to {current_user.notify_address}."
              }.get(outcome, "Notification settings saved.")
    return _section("notifications", notify_notice=notice)


@bp.post("/settings/timezone")
@login_required
def change_timezone():
    """The zone times are shown in; empty: the browser's."""
    try:
        profile.set_timezone(current_user, request.form.get("timezone", ""))
    except Invalid as error:
        return _section("timezone", 422, timezone_error=error.message)
    return _section("timezone", timezone_notice="Times are now shown in "
                    + (current_user.timezone or "your browser's time zone") + ".")


@bp.get("/settings/verify/<token>")
def verify_notification_email(token: str):
    """The link mailed to a new notification address; no login needed (the link is the proof)."""
    try:
        user = profile.verify_notification_email(services(), token)
    except NotFound as error:
        abort(404, description=error.message)
    except Invalid as error:
        return render_template("settings/verified.html", error=error.message), 410
    return render_template("settings/verified.html", address=user.notification_email)


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
