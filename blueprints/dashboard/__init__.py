"""The HTML dashboard (HTMX pages and fragments), one module per area.

Module map:

- `workflows`  the workflows list (`/`) and a workflow's page with its actions
- `editor`     the New workflow / Edit form and its fragments (steps, Plan with AI, Test step,
               the schedule described live)
- `runs`       every run (`/runs`) and a run's page (`/runs/<id>`) with its self-updating timeline
- `recovery`   runs that stopped: "Retry from step N", "Resume" after a budget pause, and a
               workflow's undeliverable step messages (QStash's DLQ) with "Retry" and "Discard"
- `approvals`  the approvals inbox (`/approvals`): inline decisions, Edit & approve, History,
               the pending badge
- `approval_links`  the emailed approval link (`/approvals/<token>`): GET shows, POST decides
- `settings`   account settings: password, email, notifications, time zone, API tokens
- `mailbox`    the dev mailbox (`/dev/mailbox`, development only)
- `health`     `/healthz` and the favicon

Helpers (no views): `workflow_form` (the form read into the API's shape), `timeline` (status
words, durations, a run's bars).
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, g, render_template, request
from flask_login import current_user
from werkzeug.local import LocalProxy

from blueprints.dashboard.timeline import duration, status_word
from blueprints.markup import markdown_html
from blueprints.render import localtime, viewer_zone
from workflows.authoring import owned
from workflows.authoring.proposals import present, superseded_at, time_left
from workflows.engine.costs import usd
from workflows.errors import DomainError

bp = Blueprint("dashboard", __name__)


def pending_count() -> int:
    """The signed-in user's pending approvals, counted at most once per request."""
    if "pending_approvals" not in g:
        g.pending_approvals = owned.pending_approval_count(current_user.id)
    return g.pending_approvals


@bp.app_context_processor
def _navigation_counts() -> dict:
    if not current_user.is_authenticated:
        return {}
    # Lazy: counted only when a template shows the navigation, not for every fragment (a run's
    # page polls its own every 2 s).
    return {"pending_approvals": LocalProxy(pending_count)}


bp.add_app_template_filter(localtime, "localtime")
bp.add_app_template_global(viewer_zone, "viewer_zone")
bp.add_app_template_filter(status_word, "status_word")
bp.add_app_template_global(present, "present_proposal")
bp.add_app_template_global(time_left, "time_left")
bp.add_app_template_global(superseded_at, "superseded_at")
bp.add_app_template_filter(duration, "duration")
bp.add_app_template_filter(markdown_html, "markdown")
bp.add_app_template_filter(usd, "usd")


@bp.app_template_filter("pretty_json")
def _pretty_json(value: Any) -> str:
    """A JSON value laid out to read (escaped by the template like any text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@bp.app_template_global()
def url_with(**changes: Any) -> str:
    """This page's URL with some query parameters changed (None or "" removes one): pagers, filters."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value in (None, ""):
            args.pop(key, None)
        else:
            args[key] = value
    return request.path + ("?" + urlencode(args) if args else "")


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):  # type: ignore[no-untyped-def]
    """A domain error on a page (another user's workflow, a bad cursor) as a readable error page."""
    titles = {400: "Bad request", 404: "Not found", 409: "Conflict", 422: "Invalid", 503: "Unavailable"}
    return render_template("error.html", code=error.status, title=titles.get(error.status, "Error"),
                           message=error.message), error.status

# The views register themselves on `bp` when imported.
from blueprints.dashboard import (  # noqa: E402,F401
    approval_links, approvals, editor, health, mailbox, recovery, runs, settings, workflows,
)
