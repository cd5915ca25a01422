"""The dev mailbox (`/dev/mailbox`): the outbox, for trying every email with no SMTP server.

Development only (a 404 in production); each user sees only mail addressed to them, because
approval emails carry links that decide without logging in.
"""
from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user, login_required

from blueprints.common import services
from blueprints.dashboard import bp
from workflows.authoring.mailbox import mailbox_for, safe_html
from workflows.errors import DomainError


@bp.get("/dev/mailbox")
@login_required
def mailbox():
    """Emails addressed to you, newest first, their HTML shown inline."""
    settings = services().settings
    if settings.production:
        abort(404)
    try:
        page = mailbox_for(current_user, cursor=request.args.get("cursor") or None)
    except DomainError as error:
        abort(400, description=error.message)
    emails = [(row, safe_html(row.html, settings.app_base_url) if row.html else None) for row in page.items]
    return render_template("mailbox/index.html", emails=emails, page=page,
                           smtp=services().mailer is not None)
