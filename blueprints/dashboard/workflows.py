"""The workflows pages."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from blueprints.dashboard import bp
from workflows.authoring import owned


@bp.get("/")
@login_required
def index():
    """The user's workflows."""
    return render_template("workflows/index.html", workflows=owned.workflows_for(current_user.id))
