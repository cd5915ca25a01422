"""The HTML dashboard (HTMX pages and fragments), one module per area.

Module map:

- `workflows`  the workflows list (`/`)
- `approvals`  the approvals inbox (`/approvals`)
- `settings`   account settings and API tokens (`/settings`)
- `health`     `/healthz` and the favicon
"""
from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from blueprints.render import localtime
from workflows.authoring import owned

bp = Blueprint("dashboard", __name__)


@bp.app_context_processor
def _navigation_counts() -> dict:
    if not current_user.is_authenticated:
        return {}
    return {"pending_approvals": owned.pending_approval_count(current_user.id)}


bp.add_app_template_filter(localtime, "localtime")

# The views register themselves on `bp` when imported.
from blueprints.dashboard import approvals, health, settings, workflows  # noqa: E402,F401
