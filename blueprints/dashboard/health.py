"""The health check and the favicon."""
from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify, redirect, url_for

from blueprints.dashboard import bp
from extensions import db


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
