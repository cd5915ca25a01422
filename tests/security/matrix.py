"""The world the access matrix and the CSRF table call into: two users, their clients, and the
owner's objects, each made afresh (and only when a row's path or form names it).

Actors: anonymous, the owner by session and by API token, another user by session and by token,
and the owner's revoked token. Sessions log in through the real form and send their CSRF token
as htmx does (`X-CSRFToken`); tokens send `Authorization: Bearer`.
"""
from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Approval, LoginAttempt, Outbox, Run, RunStep, StepStatus, User
from tests.conftest import add_user, bearer, csrf_from
from tests.security.fixtures import pending_approval
from tests.support.dashboard import add_run
from tests.support.memory_queue import MemoryQueue
from workflows.engine import outbox
from workflows.engine.publishing import STEP_PATH, step_dedup_id, step_label
from workflows.engine.queue_client import OutgoingMessage
from workflows.integrations import accounts, profile

ACTORS = ("anonymous", "owner session", "owner token", "other session", "other token", "revoked token")
CANARY = "owner-only-goal-5d1e"
PASSWORD = "correct-horse-1"
LOGIN = 302  # a page that needs a login sends everyone else there
_fresh = itertools.count(1)


class Objects(dict):
    """The owner's objects by name, each built on first use by World.build_<name>."""

    def __init__(self, world: "World") -> None:
        super().__init__()
        self.world = world

    def __missing__(self, name: str) -> Any:
        with self.world.app.app_context():
            value = self[name] = getattr(self.world, f"build_{name}")(self)
            db.session.rollback()
        return value


@dataclass
class World:
    """Two users (owner and other), a client and headers for each actor, the in-memory queue."""

    app: Any
    queue: MemoryQueue
    owner_id: int = 0
    clients: dict[str, tuple[Any, dict[str, str]]] = field(default_factory=dict)

    @property
    def services(self) -> Any:
        return self.app.extensions["stepwise"]

    def objects(self) -> Objects:
        """A fresh set of the owner's objects, made lazily."""
        return Objects(self)

    def build_workflow(self, o: Objects) -> str:
        client, headers = self.clients["owner token"]
        return client.post("/api/workflows", headers=headers, json={"goal": CANARY, "steps": [
            {"toolName": "send_email", "toolInput": {"to": "a@example.com", "subject": "s", "body": "b"}}]}
                           ).get_json()["id"]

    def build_approval(self, o: Objects) -> int:
        return pending_approval(self.app, o["workflow"])

    def build_run(self, o: Objects) -> int:
        return db.session.get(Approval, o["approval"]).run_id

    def build_failed_run(self, o: Objects) -> int:
        return add_run(o["workflow"], "failed", steps=[RunStep(
            step_index=0, tool_name="compose", tool_input={"template": "x"}, status=StepStatus.FAILED,
            attempts=1, error="HTTP 400 from hooks.example")], error="step 1 failed")

    def build_paused_run(self, o: Objects) -> int:
        return add_run(o["workflow"], "paused_budget", steps=[RunStep(
            step_index=0, tool_name="compose", tool_input={"template": "x"}, status=StepStatus.PENDING)])

    def build_dlq(self, o: Objects) -> str:
        """A DLQ entry: the failed run's step message, which QStash gave up on."""
        run = db.session.get(Run, o["failed_run"])
        body = {"workflowId": run.workflow_id, "runId": run.id, "conversationId": run.conversation_id, "stepIndex": 0}
        return self.queue.kill(OutgoingMessage(url=self.services.url(STEP_PATH), body=body, label=step_label(run.workflow_id),
                                               dedup_id=step_dedup_id(run.workflow_id, run.id, 0))).dlq_id

    def build_token(self, o: Objects) -> int:
        return accounts.create_token(db.session.get(User, self.owner_id), "to revoke")[0].id

    def build_link(self, o: Objects) -> str:
        """The token of the approval's emailed link."""
        return outbox.approval_link(self.services, o["approval"]).rsplit("/", 1)[1]

    def build_reset(self, o: Objects) -> str:
        """The token of a password-reset link for the owner, as mailed."""
        link = profile.request_password_reset(self.services, db.session.get(User, self.owner_id).email)
        db.session.execute(sa.delete(LoginAttempt))  # the matrix asks more often than a person may
        db.session.commit()
        return link.rsplit("/", 1)[1]

    def build_verify(self, o: Objects) -> str:
        """The token of the link mailed to a new notification address of the owner's."""
        owner = db.session.get(User, self.owner_id)
        profile.set_notification_email(self.services, owner, f"notify-{next(_fresh)}@example.com")
        text = db.session.scalar(sa.select(Outbox.text).order_by(Outbox.id.desc()).limit(1))
        return re.search(r"/settings/verify/(\S+)", text).group(1)

    def build_new_email(self, o: Objects) -> str:
        return f"renamed-{next(_fresh)}@example.com"


def build_world(app) -> World:  # type: ignore[no-untyped-def]
    """Both users logged in through the login form, with live tokens; the owner's revoked token."""
    queue = app.extensions["stepwise"].queue = MemoryQueue()
    world = World(app, queue)
    for who in ("owner", "other"):
        with app.app_context():
            user = add_user(f"{who}@example.com", PASSWORD)
            _, plaintext = accounts.create_token(user, "matrix")
            world.clients[f"{who} token"] = (app.test_client(), bearer(plaintext))
            if who == "owner":
                world.owner_id = user.id
                revoked, gone = accounts.create_token(user, "revoked")
                accounts.revoke_token(user, revoked.id)
                world.clients["revoked token"] = (app.test_client(), bearer(gone))
        session = app.test_client()
        token = csrf_from(session.get("/auth/login").get_data(as_text=True))
        assert session.post("/auth/login", data={"email": f"{who}@example.com", "password": PASSWORD,
                                                 "csrf_token": token}).status_code == 302
        world.clients[f"{who} session"] = (session, {"X-CSRFToken": csrf_from(session.get("/settings").get_data(as_text=True))})
    world.clients["anonymous"] = (app.test_client(), {})
    return world


@dataclass(frozen=True)
class Row:
    """One route: how to call it, and the status each actor gets.

    kind "api": the owner gets `owner`, the other user `other` (404 when the route names an owned
    object), no live credentials 401. "page": sessions get `owner`/`other`, everyone else the login
    redirect. "signed": 401 for everyone (no QStash signature). "public": `owner` for everyone
    unless `expect` says otherwise. `path`, and the values of `form`, are templates over the
    owner's objects ("/runs/{run}"). `htmx` sends HX-Request (a fragment). `location`: where the
    owner's redirect goes (a template too); `says`: what the owner's answer says when it worked
    (where a 200 could also be a refusal). `public_data`: the page shows the owner's workflow to
    whoever holds its link, by design (the emailed approval link).
    """

    kind: str
    path: str
    owner: int
    other: int | None = None
    json: Any = None
    form: dict[str, str] | None = None
    expect: dict[str, int] = field(default_factory=dict)
    htmx: bool = False
    location: str | None = None
    says: str | None = None
    public_data: bool = False

    def expected(self, actor: str) -> int:
        """The status `actor` gets."""
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

    def request(self, objects: Objects, headers: dict[str, str]) -> dict[str, Any]:
        """The arguments of `client.open` for this row: path, body and headers filled in."""
        kwargs: dict[str, Any] = {"path": fill(self.path, objects),
                                  "headers": {**headers, **({"HX-Request": "true"} if self.htmx else {})}}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.form is not None:
            kwargs["data"] = {name: fill(value, objects) for name, value in self.form.items()}
        return kwargs


def fill(template: str, objects: Objects) -> str:
    """A template over the objects, building only those it names."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**{name: objects[name] for name in names})


STEP = {"toolName": "compose", "toolInput": {"template": "x"}}
FORM_STEP = {"goal": "g", "steps-0-toolName": "compose", "steps-0-input-template": "x"}
SESSIONS_ONLY = {"owner session": 200, "other session": 200}  # a public form: who has no CSRF token gets 400
NO_CSRF = {"anonymous": 400, "owner token": 400, "other token": 400, "revoked token": 400}

ROWS: dict[tuple[str, str], Row] = {
    # The JSON API and the signed consumers
    ("api.list_workflows", "GET"): Row("api", "/api/workflows", 200),
    ("api.create_workflow", "POST"): Row("api", "/api/workflows", 201, json={"goal": "g", "steps": [STEP]}),
    ("api.plan_workflow", "POST"): Row("api", "/api/workflows/plan", 422, json={"goal": "g"}),  # no model here
    ("api.get_workflow", "GET"): Row("api", "/api/workflows/{workflow}", 200, 404),
    ("api.update_workflow", "PATCH"): Row("api", "/api/workflows/{workflow}", 200, 404, json={"goal": "new"}),
    ("api.delete_workflow", "DELETE"): Row("api", "/api/workflows/{workflow}", 204, 404),
    ("api.start_run", "POST"): Row("api", "/api/workflows/{workflow}/runs", 202, 404),
    ("api.list_runs", "GET"): Row("api", "/api/workflows/{workflow}/runs", 200, 404),
    ("api.get_run", "GET"): Row("api", "/api/runs/{run}", 200, 404),
    ("api.cancel_run", "POST"): Row("api", "/api/runs/{run}/cancel", 200, 404),
    ("api.retry_run", "POST"): Row("api", "/api/runs/{failed_run}/retry", 202, 404),
    ("api.resume_run", "POST"): Row("api", "/api/runs/{paused_run}/resume", 202, 404),
    ("api.list_approvals", "GET"): Row("api", "/api/approvals", 200),
    ("api.get_approval", "GET"): Row("api", "/api/approvals/{approval}", 200, 404),
    ("api.decide_approval", "POST"): Row("api", "/api/approvals/{approval}", 200, 404, json={"decision": "reject"}),
    ("api.openapi", "GET"): Row("public", "/api/openapi.json", 200),
    ("qstash.run_step", "POST"): Row("signed", "/api/workflows/step", 401, json={}),
    ("qstash.trigger_run", "POST"): Row("signed", "/api/workflows/trigger", 401, json={}),
    ("qstash.step_failed", "POST"): Row("signed", "/api/workflows/failed", 401, json={}),
    ("qstash.expire_approval", "POST"): Row("signed", "/api/approvals/expire", 401, json={}),
    ("qstash.sweep", "POST"): Row("signed", "/api/maintenance/sweep", 401, json={}),
    # Workflows: the list, a workflow's page and its actions, the form and its htmx fragments
    ("dashboard.index", "GET"): Row("page", "/", 200),
    ("dashboard.workflow", "GET"): Row("page", "/workflows/{workflow}", 200, 404),
    ("dashboard.new_workflow", "GET"): Row("page", "/workflows/new", 200),
    ("dashboard.create_workflow", "POST"): Row("page", "/workflows/new", 302, form=FORM_STEP, location="/workflows/"),
    ("dashboard.edit_workflow", "GET"): Row("page", "/workflows/{workflow}/edit", 200, 404),
    ("dashboard.update_workflow", "POST"): Row("page", "/workflows/{workflow}/edit", 302, 404, form=FORM_STEP,
                                               location="/workflows/{workflow}"),
    ("dashboard.edit_steps", "POST"): Row("page", "/workflows/form/steps", 200, 404, htmx=True,
                                          form={"workflow_id": "{workflow}", "goal": "g", "edit": "add"}),
    ("dashboard.plan_steps", "POST"): Row("page", "/workflows/form/plan", 200, 404, htmx=True,
                                          form={"workflow_id": "{workflow}", "goal": "g"}),
    ("dashboard.test_step", "POST"): Row("page", "/workflows/form/steps/0/test", 200, 404,
                                         form={"workflow_id": "{workflow}", **FORM_STEP}),
    ("dashboard.describe_schedule", "GET"): Row("page", "/workflows/schedule?schedule=0+9+*+*+1&timezone=UTC", 200),
    ("dashboard.pause_workflow", "POST"): Row("page", "/workflows/{workflow}/pause", 302, 404, form={},
                                              location="/workflows/{workflow}"),
    ("dashboard.resume_workflow", "POST"): Row("page", "/workflows/{workflow}/resume", 302, 404, form={},
                                               location="/workflows/{workflow}"),
    ("dashboard.run_workflow", "POST"): Row("page", "/workflows/{workflow}/run", 302, 404, form={}, location="/runs/"),
    ("dashboard.duplicate_workflow", "POST"): Row("page", "/workflows/{workflow}/duplicate", 302, 404, form={},
                                                  location="/workflows/"),
    ("dashboard.confirm_delete_workflow", "GET"): Row("page", "/workflows/{workflow}/delete", 200, 404),
    ("dashboard.delete_workflow", "POST"): Row("page", "/workflows/{workflow}/delete", 302, 404, form={}, location="/"),
    # Runs, and runs that stopped
    ("dashboard.runs", "GET"): Row("page", "/runs", 200),
    ("dashboard.run", "GET"): Row("page", "/runs/{run}", 200, 404),
    ("dashboard.cancel_run", "POST"): Row("page", "/runs/{run}/cancel", 200, 404, form={}, htmx=True,
                                          says="was cancelled."),
    ("dashboard.retry_run", "POST"): Row("page", "/runs/{failed_run}/retry", 302, 404, form={},
                                         location="/runs/{failed_run}"),
    ("dashboard.resume_run", "POST"): Row("page", "/runs/{paused_run}/resume", 302, 404, form={},
                                          location="/runs/{paused_run}"),
    ("dashboard.undeliverable", "GET"): Row("page", "/workflows/{workflow}/undeliverable", 200, 404),
    ("dashboard.retry_undeliverable", "POST"): Row("page", "/workflows/{workflow}/undeliverable/{dlq}/retry", 200, 404,
                                                   form={}, htmx=True, says="runs again from step 1."),
    ("dashboard.discard_undeliverable", "POST"): Row("page", "/workflows/{workflow}/undeliverable/{dlq}/discard", 200,
                                                     404, form={}, htmx=True, says="Discarded the message."),
    # Approvals: the inbox and its fragments, the emailed link (the token is the authority)
    ("dashboard.approvals", "GET"): Row("page", "/approvals", 200),
    ("dashboard.approval_card", "GET"): Row("page", "/approvals/{approval}/card", 200, 404, htmx=True),
    ("dashboard.edit_approval", "GET"): Row("page", "/approvals/{approval}/edit", 200, 404, htmx=True),
    ("dashboard.decide_approval", "POST"): Row("page", "/approvals/{approval}/decision", 200, 404, htmx=True,
                                               form={"decision": "reject"}, says="Rejected"),
    ("dashboard.approvals_badge", "GET"): Row("public", "/approvals/badge", 286, htmx=True, expect=SESSIONS_ONLY),
    ("dashboard.approval_link", "GET"): Row("public", "/approvals/{link}", 200, public_data=True, says="Approval needed"),
    ("dashboard.decide_by_link", "POST"): Row("public", "/approvals/{link}", 200, form={"decision": "reject"},
                                              expect=NO_CSRF, public_data=True, says="Rejected: the run has ended."),
    # Settings, the dev mailbox, health
    ("dashboard.settings", "GET"): Row("page", "/settings", 200),
    ("dashboard.create_token", "POST"): Row("page", "/settings/tokens", 200, form={"name": "x"}),
    ("dashboard.revoke_token", "POST"): Row("page", "/settings/tokens/{token}/revoke", 200, 404, form={}),
    ("dashboard.change_email", "POST"): Row("page", "/settings/email", 200, htmx=True,
                                            form={"current_password": PASSWORD, "email": "{new_email}"},
                                            says="Your account email is now renamed-"),
    ("dashboard.change_password", "POST"): Row("page", "/settings/password", 200, htmx=True,
                                               form={"current_password": PASSWORD, "new_password": PASSWORD},
                                               says="Your password has been changed."),
    ("dashboard.change_notifications", "POST"): Row("page", "/settings/notifications", 200, htmx=True,
                                                    form={"notification_email": "", "notify_on_failure": "y"},
                                                    says="Notification settings saved."),
    ("dashboard.change_timezone", "POST"): Row("page", "/settings/timezone", 200, htmx=True,
                                               form={"timezone": "Europe/Berlin"}, says="Times are now shown in Europe/Berlin."),
    ("dashboard.verify_notification_email", "GET"): Row("public", "/settings/verify/{verify}", 200, says="notify-"),
    ("dashboard.mailbox", "GET"): Row("page", "/dev/mailbox", 200),
    ("dashboard.healthz", "GET"): Row("public", "/healthz", 200),
    ("dashboard.favicon", "GET"): Row("public", "/favicon.ico", 301),
    ("linkedin.show", "GET"): Row("page", "/settings/linkedin", 200),
    ("linkedin.connect", "GET"): Row("page", "/settings/linkedin/connect", 400),  # no OAuth app configured
    ("linkedin.callback", "GET"): Row("page", "/settings/linkedin/callback?state=forged&code=x", 400),
    ("linkedin.paste_token", "POST"): Row("page", "/settings/linkedin/token", 422, form={"access_token": ""}),
    ("linkedin.disconnect", "POST"): Row("page", "/settings/linkedin/disconnect", 302, form={},
                                         location="/settings"),
    # Accounts: public forms (who has no session has no CSRF token: 400), the reset link
    ("auth.register", "GET"): Row("public", "/auth/register", 200, expect={"owner session": 302, "other session": 302}),
    ("auth.register", "POST"): Row("public", "/auth/register", 400, form={},
                                   expect={"owner session": 302, "other session": 302}),
    ("auth.login", "GET"): Row("public", "/auth/login", 200, expect={"owner session": 302, "other session": 302}),
    ("auth.login", "POST"): Row("public", "/auth/login", 400, form={},
                                expect={"owner session": 302, "other session": 302}),
    ("auth.logout", "POST"): Row("page", "/auth/logout", 302, form={}, location="/auth/login"),
    ("auth.reset_request", "GET"): Row("public", "/auth/reset", 200),
    ("auth.reset_request", "POST"): Row("public", "/auth/reset", 200, form={"email": "owner@example.com"},
                                        expect=NO_CSRF),
    ("auth.reset_password", "GET"): Row("public", "/auth/reset/{reset}", 200, says="Choose a new password"),
    ("auth.reset_password", "POST"): Row("public", "/auth/reset/{reset}", 302, form={"password": "a-new-password-2"},
                                         expect=NO_CSRF, location="/auth/login"),
    ("static", "GET"): Row("public", "/static/app.js", 200),
}


def routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(endpoint, method) for every rule of the URL map."""
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}

