"""Which requests never write, and so begin their SQLite transactions deferred (workflows/transactions.py).

The list is explicit: an endpoint is here only once it is known not to write, and only for GET
and HEAD. Anything else, a new page included, begins IMMEDIATE, which is slower under load but
never wrong. A test keeps every name here pointing at a GET route.
"""
from __future__ import annotations

from flask import Flask, g, request

from workflows import transactions

READ_ONLY_ENDPOINTS = frozenset({
    # Not dashboard.healthz: it begins IMMEDIATE on purpose, so a database locked for writing (where
    # no step can make progress) answers 503 instead of a healthy-looking read.
    # pages and the fragments they poll or swap in (the badge: every open page, every 30 s;
    # a run's page: every 2 s while it runs)
    "dashboard.index", "dashboard.workflow", "dashboard.runs", "dashboard.run", "dashboard.approvals",
    "dashboard.approvals_badge", "dashboard.approval_card", "dashboard.edit_approval", "dashboard.settings",
    "dashboard.new_workflow", "dashboard.edit_workflow", "dashboard.confirm_delete_workflow",
    "dashboard.describe_schedule", "dashboard.mailbox", "dashboard.favicon",
    # the emailed approval link's GET shows and never decides (mail scanners open it)
    "dashboard.approval_link",
    # the workflow page's list of undeliverable messages (read from QStash, nothing stored)
    "dashboard.undeliverable",
    "api.openapi", "api.list_workflows", "api.get_workflow", "api.list_runs", "api.get_run", "api.list_approvals",
    "api.get_approval",
    "auth.login", "auth.register", "auth.reset_request", "auth.reset_password",
    "linkedin.show", "linkedin.connect", "static",
})
# Never here, though they are GETs: `dashboard.verify_notification_email` (opening the link
# verifies the address) and `linkedin.callback` (stores the connection).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def is_read_only(endpoint: str | None, method: str) -> bool:
    """True for a request that never writes: a listed endpoint, asked with GET or HEAD."""
    return method in READ_ONLY_METHODS and endpoint in READ_ONLY_ENDPOINTS


def register(app: Flask) -> None:
    """Set each request's transaction mode before anything touches the database; restore it after."""

    @app.before_request
    def _set_mode() -> None:
        g.transaction_mode = transactions.set_read_only(is_read_only(request.endpoint, request.method))

    @app.teardown_request
    def _reset_mode(_exc: BaseException | None) -> None:
        if "transaction_mode" in g:
            transactions.reset(g.pop("transaction_mode"))
