"""Every route x every actor, generated from the app's URL map: a route without a row fails.

Actors: anonymous, the owner by session and by API token, another user by session and by token,
and the owner's revoked token. Only the owner reaches the owner's objects; the others get what
ARCHITECTURE.md section 4 says (401 without a live token or session, 404 for another user's
object). Routes public by design have rows of their own. The dashboard's routes are listed in
PHASE_2 until phase 2 of issue 11 gives them their rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from tests.conftest import AuthActions, bearer, csrf_from
from tests.engine.test_engine_claims import FakeQueue
from tests.reliability.figures import record
from tests.security.fixtures import pending_approval
from workflows.integrations import accounts

ACTORS = ("anonymous", "owner session", "owner token", "other session", "other token", "revoked token")
CANARY = "owner-only-goal-5d1e"
LOGIN = 302  # a page that needs a login sends everyone else there


@dataclass
class World:
    """Two users, their clients and tokens, and the owner's objects (made afresh for each cell)."""

    app: Any
    clients: dict[str, tuple[Any, dict[str, str]]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def objects(self) -> dict[str, Any]:
        """A new workflow of the owner's, a run of it waiting for approval, the approval, a token."""
        client, headers = self.clients["owner token"]
        workflow = client.post("/api/workflows", headers=headers, json={"goal": CANARY, "steps": [
            {"toolName": "send_email", "toolInput": {"to": "a@example.com", "subject": "s", "body": "b"}}]}).get_json()
        approval_id = pending_approval(self.app, workflow["id"])
        with self.app.app_context():
            from extensions import db
            from models import Approval, User

            run_id = db.session.get(Approval, approval_id).run_id
            owner = db.session.query(User).filter_by(email="owner@example.com").one()
            token, _ = accounts.create_token(owner, "to revoke")
            token_id = token.id
        return {"workflow": workflow["id"], "run": run_id, "approval": approval_id, "token": token_id}


def build_world(app) -> World:  # type: ignore[no-untyped-def]
    app.extensions["stepwise"].queue = FakeQueue()
    world = World(app)
    for who, email in (("owner", "owner@example.com"), ("other", "other@example.com")):
        session = app.test_client()
        AuthActions(session).register(email)
        csrf = csrf_from(session.get("/settings").get_data(as_text=True))
        world.clients[f"{who} session"] = (session, {"X-CSRFToken": csrf})
        with app.app_context():
            user = accounts.user_by_email(email)
            _, plaintext = accounts.create_token(user, "matrix")
            world.clients[f"{who} token"] = (app.test_client(), bearer(plaintext))
            if who == "owner":
                revoked, gone = accounts.create_token(user, "revoked")
                accounts.revoke_token(user, revoked.id)
                world.clients["revoked token"] = (app.test_client(), bearer(gone))
    world.clients["anonymous"] = (app.test_client(), {})
    return world


@dataclass(frozen=True)
class Row:
    """One route: how to call it, and the status each actor gets.

    kind "api": the owner gets `owner`, the other user `other` (404 when the route names an owned
    object), no live credentials 401. "page": sessions get `owner`/`other`, everyone else the login
    redirect. "signed": 401 for everyone (no QStash signature). "public": `owner` for everyone
    unless `expect` says otherwise.
    """

    kind: str
    path: Callable[[dict[str, Any]], str]
    owner: int
    other: int | None = None
    json: Any = None
    form: dict[str, str] | None = None
    expect: dict[str, int] = field(default_factory=dict)

    def expected(self, actor: str) -> int:
        if actor in self.expect:
            return self.expect[actor]
        if self.kind == "signed":
            return 401
        if self.kind == "public":
            return self.owner
        mine = actor.startswith("owner")
        if self.kind == "api":
            if actor in ("anonymous", "revoked token"):
                return 401
            return self.owner if mine else (self.other if self.other is not None else self.owner)
        if actor.endswith("token") or actor == "anonymous":
            return LOGIN
        return self.owner if mine else (self.other if self.other is not None else self.owner)


W = lambda path: (lambda o: path.format(**o))  # noqa: E731 (a path template over the objects)
STEP = {"toolName": "compose", "toolInput": {"template": "x"}}

ROWS: dict[tuple[str, str], Row] = {
    ("api.list_workflows", "GET"): Row("api", W("/api/workflows"), 200),
    ("api.create_workflow", "POST"): Row("api", W("/api/workflows"), 201, json={"goal": "g", "steps": [STEP]}),
    ("api.plan_workflow", "POST"): Row("api", W("/api/workflows/plan"), 422, json={"goal": "g"}),  # no model here
    ("api.get_workflow", "GET"): Row("api", W("/api/workflows/{workflow}"), 200, 404),
    ("api.update_workflow", "PATCH"): Row("api", W("/api/workflows/{workflow}"), 200, 404, json={"goal": "new"}),
    ("api.delete_workflow", "DELETE"): Row("api", W("/api/workflows/{workflow}"), 204, 404),
    ("api.start_run", "POST"): Row("api", W("/api/workflows/{workflow}/runs"), 202, 404),
    ("api.list_runs", "GET"): Row("api", W("/api/workflows/{workflow}/runs"), 200, 404),
    ("api.get_run", "GET"): Row("api", W("/api/runs/{run}"), 200, 404),
    ("api.cancel_run", "POST"): Row("api", W("/api/runs/{run}/cancel"), 200, 404),
    ("api.list_approvals", "GET"): Row("api", W("/api/approvals"), 200),
    ("api.decide_approval", "POST"): Row("api", W("/api/approvals/{approval}"), 200, 404, json={"decision": "reject"}),
    ("api.openapi", "GET"): Row("public", W("/api/openapi.json"), 200),
    ("qstash.run_step", "POST"): Row("signed", W("/api/workflows/step"), 401, json={}),
    ("qstash.trigger_run", "POST"): Row("signed", W("/api/workflows/trigger"), 401, json={}),
    ("qstash.step_failed", "POST"): Row("signed", W("/api/workflows/failed"), 401, json={}),
    ("qstash.expire_approval", "POST"): Row("signed", W("/api/approvals/expire"), 401, json={}),
    ("qstash.sweep", "POST"): Row("signed", W("/api/maintenance/sweep"), 401, json={}),
    ("dashboard.index", "GET"): Row("page", W("/"), 200),
    ("dashboard.approvals", "GET"): Row("page", W("/approvals"), 200),
    ("dashboard.settings", "GET"): Row("page", W("/settings"), 200),
    ("dashboard.create_token", "POST"): Row("page", W("/settings/tokens"), 200, form={"name": "x"}),
    ("dashboard.revoke_token", "POST"): Row("page", W("/settings/tokens/{token}/revoke"), 200, 404, form={}),
    ("dashboard.healthz", "GET"): Row("public", W("/healthz"), 200),
    ("dashboard.favicon", "GET"): Row("public", W("/favicon.ico"), 301),
    ("linkedin.show", "GET"): Row("page", W("/settings/linkedin"), 200),
    ("linkedin.connect", "GET"): Row("page", W("/settings/linkedin/connect"), 400),  # no OAuth app configured
    ("linkedin.callback", "GET"): Row("page", W("/settings/linkedin/callback?state=forged&code=x"), 400),
    ("linkedin.paste_token", "POST"): Row("page", W("/settings/linkedin/token"), 422, form={"access_token": ""}),
    ("linkedin.disconnect", "POST"): Row("page", W("/settings/linkedin/disconnect"), 302, form={}),
    ("auth.register", "GET"): Row("public", W("/auth/register"), 200, expect={"owner session": 302, "other session": 302}),
    ("auth.register", "POST"): Row("public", W("/auth/register"), 400, form={},  # anonymous: no CSRF token
                                   expect={"owner session": 302, "other session": 302}),
    ("auth.login", "GET"): Row("public", W("/auth/login"), 200, expect={"owner session": 302, "other session": 302}),
    ("auth.login", "POST"): Row("public", W("/auth/login"), 400, form={},
                                expect={"owner session": 302, "other session": 302}),
    ("auth.logout", "POST"): Row("page", W("/auth/logout"), 302, form={}),
    ("static", "GET"): Row("public", W("/static/app.js"), 200),
}


# Phase 2 of issue 11 gives each of these its row (pages, fragments, email-link pages, password
# reset). Listed by name, so the check below still fails for any route that is in neither table.
PHASE_2 = {
    # issue 13's routes, landed beside phase 1
    ("api.get_approval", "GET"), ("api.resume_run", "POST"), ("api.retry_run", "POST"),
    ("dashboard.discard_undeliverable", "POST"), ("dashboard.resume_run", "POST"), ("dashboard.retry_run", "POST"),
    ("dashboard.retry_undeliverable", "POST"), ("dashboard.undeliverable", "GET"),
    ("auth.reset_password", "GET"), ("auth.reset_password", "POST"), ("auth.reset_request", "GET"),
    ("auth.reset_request", "POST"), ("dashboard.approval_card", "GET"), ("dashboard.approval_link", "GET"),
    ("dashboard.approvals_badge", "GET"), ("dashboard.cancel_run", "POST"), ("dashboard.change_email", "POST"),
    ("dashboard.change_notifications", "POST"), ("dashboard.change_password", "POST"),
    ("dashboard.change_timezone", "POST"), ("dashboard.confirm_delete_workflow", "GET"),
    ("dashboard.create_workflow", "POST"), ("dashboard.decide_approval", "POST"),
    ("dashboard.decide_by_link", "POST"), ("dashboard.delete_workflow", "POST"),
    ("dashboard.describe_schedule", "GET"), ("dashboard.duplicate_workflow", "POST"),
    ("dashboard.edit_approval", "GET"), ("dashboard.edit_steps", "POST"), ("dashboard.edit_workflow", "GET"),
    ("dashboard.mailbox", "GET"), ("dashboard.new_workflow", "GET"), ("dashboard.pause_workflow", "POST"),
    ("dashboard.plan_steps", "POST"), ("dashboard.resume_workflow", "POST"), ("dashboard.run", "GET"),
    ("dashboard.run_workflow", "POST"), ("dashboard.runs", "GET"), ("dashboard.test_step", "POST"),
    ("dashboard.update_workflow", "POST"), ("dashboard.verify_notification_email", "GET"),
    ("dashboard.workflow", "GET"),
}


def routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(endpoint, method) for every rule of the URL map."""
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_a_row(app):
    missing = routes(app) - set(ROWS) - PHASE_2
    assert not missing, f"routes without an access-matrix row: {sorted(missing)}"
    assert not (set(ROWS) | PHASE_2) - routes(app), "rows for routes that no longer exist"


@pytest.mark.parametrize("route", sorted(ROWS), ids=[f"{m} {e}" for e, m in sorted(ROWS)])
def test_each_actor_gets_exactly_what_section_4_says(app, route):
    endpoint, method = route
    row = ROWS[route]
    world = build_world(app)
    got = {}
    for actor in ACTORS:
        client, headers = world.clients[actor]
        path = row.path(world.objects())
        kwargs: dict[str, Any] = {"headers": headers}
        if row.json is not None:
            kwargs["json"] = row.json
        if row.form is not None:
            kwargs["data"] = row.form
        response = client.open(path, method=method, **kwargs)
        got[actor] = response.status_code
        record("access matrix cells")
        if response.status_code == LOGIN and row.kind == "page" and not actor.endswith("session"):
            assert "/auth/login" in response.headers["Location"], (actor, response.headers["Location"])
        if not actor.startswith("owner"):
            leaked = CANARY in response.get_data(as_text=True)
            record("leaks", int(leaked))
            assert not leaked, f"{actor} saw the owner's workflow on {method} {path}"
    assert got == {actor: row.expected(actor) for actor in ACTORS}
