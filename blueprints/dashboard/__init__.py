"""The HTML dashboard (HTMX pages and fragments), one module per area.

Module map:

- `workflows`  the workflows list (`/`)
- `approvals`  the approvals inbox (`/approvals`): inline decisions, Edit & approve, History,
               the pending badge
- `approval_links`  the emailed approval link (`/approvals/<token>`): GET shows, POST decides
- `settings`   account settings: password, email, notifications, time zone, API tokens
- `mailbox`    the dev mailbox (`/dev/mailbox`, development only)
- `health`     `/healthz` and the favicon
"""
from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from blueprints.render import localtime, status_word
from workflows.authoring import owned
from workflows.authoring.proposals import present, time_left

bp = Blueprint("dashboard", __name__)


@bp.app_context_processor
def _navigation_counts() -> dict:
    if not current_user.is_authenticated:
        return {}
    return {"pending_approvals": owned.pending_approval_count(current_user.id)}


bp.add_app_template_filter(localtime, "localtime")
bp.add_app_template_filter(status_word, "status_word")
bp.add_app_template_global(present, "present_proposal")
bp.add_app_template_global(time_left, "time_left")

# The views register themselves on `bp` when imported.
from blueprints.dashboard import approval_links, approvals, health, mailbox, settings, workflows  # noqa: E402,F401
