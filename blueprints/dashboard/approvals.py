"""The approvals inbox."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from blueprints.dashboard import bp
from workflows.authoring import owned


@bp.get("/approvals")
@login_required
def approvals():
    """Approvals waiting for the user."""
    items = owned.approvals_for(current_user.id, status="pending")
    return render_template("approvals/index.html", approvals=items)
