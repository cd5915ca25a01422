"""SQL statements per page and per list (issue 12): pinned, and the same with a handful of rows
as with many, so an N+1 or a stray query cannot come back unnoticed (counts are deterministic;
times are not, and bench/pages.py reports those). Every page here is on the read-only list, so
each must send SELECTs only, in transactions that begin deferred on SQLite.

The "many rows" world gives the objects a page shows more of everything: a workflow with more
steps, a run with more steps, approvals, assets and messages, and 20 more workflows of runs,
approvals and mails around them, besides another user's.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest

from blueprints.transaction_mode import READ_ONLY_ENDPOINTS
from extensions import db
from models import (
    Approval, ApprovalStatus, Asset, Message, Outbox, Run, RunStatus, RunStep, StepStatus, Trigger, Workflow,
    WorkflowStep, utcnow,
)
from tests.conftest import csrf_from
from tests.dashboard.conftest import EMAIL, statements
from workflows.engine import outbox
from workflows.integrations import accounts

WEBHOOK = {"url": "https://hooks.example.com/weekly", "method": "POST", "json": {"text": "ready"}}

# path template -> SQL statements it sends (BEGIN not counted: PostgreSQL has none to see).
# {w} a workflow, {r} its run, {a} the run's pending approval, {link} its emailed link,
# {reset} a password-reset link.
PAGES = {
    "/": 4,  # user, workflows, their last 30 runs each (one UNION ALL), the badge
    "/?q=digest": 4,
    "/workflows/{w}": 8,  # user, workflow, steps, runs, badge; the cost guard: spend, projection, paused runs
    "/workflows/{w}?status=failed": 8,
    "/workflows/{w}/edit": 4,
    "/workflows/{w}/delete": 3,
    "/workflows/new": 2,
    "/workflows/new?recipe=weekly-note": 2,
    "/workflows/schedule?schedule=0+9+*+*+1&timezone=UTC": 1,
    "/runs": 3,  # user, runs with their workflows, badge
    "/runs?status=completed": 3,
    "/runs/{r}": 7,  # user, run, steps, workflow, assets, conversation, badge
    "/approvals": 5,  # user, approvals with run and workflow, their steps, last approved versions, badge
    "/approvals?tab=history": 4,
    "/approvals/badge": 2,
    "/approvals/{a}/card": 6,  # (without htmx: the inbox around the card)
    "/approvals/{a}/edit": 7,
    "{link}": 7,  # the emailed link, shown to someone not logged in as well
    "/settings": 6,
    "/settings/linkedin": 3,
    "/dev/mailbox": 3,
    "/api/workflows": 5,  # token or session user, workflows, their steps, month spend, projection
    "/api/workflows/{w}": 5,
    "/api/workflows/{w}/runs": 3,
    "/api/workflows/{w}/runs?status=completed": 3,
    "/api/runs/{r}": 5,
    "/api/approvals": 4,
    "/api/approvals?status=pending": 4,
    "/api/approvals/{a}": 5,  # user, approval, step, run, the last approved version
    "/api/openapi.json": 0,
    "/auth/login": 1,
    "/auth/register": 1,
    "/auth/reset": 2,
    "{reset}": 3,
    "/favicon.ico": 0,
    "/static/app.js": 0,
    "/settings/linkedin/connect": 3,  # 400 here: no LinkedIn app configured
    # htmx: the fragments pages swap in or poll (no navigation, so no badge count)
    "htmx /": 3,
    "htmx /workflows/{w}": 3,
    "htmx /runs": 2,
    "htmx /runs/{r}": 6,  # a running run's page polls this every 2 s
    "htmx /approvals/badge": 2,  # every open page polls this
    "htmx /approvals/{a}/card": 6,
    "htmx /approvals/{a}/edit": 6,
    "htmx /workflows/{w}/undeliverable": 2,  # user, workflow (then QStash's DLQ)
}
HTMX = "htmx "


@dataclass(frozen=True)
class Subject:
    """The objects the pages are about: a workflow, its run and the run's pending approval."""

    workflow: str
    run: int
    approval: int


def _subject(owner_id: int, size: int) -> Subject:
    """A workflow of `size` compose steps then a webhook that needs approval, and a run waiting
    at it after `size` requests for changes, with an asset and two messages per step."""
    now = utcnow()
    steps = [("compose", {"template": f"part {i}"}, False) for i in range(size)] + [("http_request", WEBHOOK, True)]
    workflow = Workflow(owner_id=owner_id, goal="A weekly digest", schedule="0 9 * * 1", steps=[
        WorkflowStep(index=i, tool_name=tool, tool_input=data, needs_approval=needs) for i, (tool, data, needs)
        in enumerate(steps)])
    run = Run(workflow=workflow, conversation_id=f"conv_{uuid.uuid4().hex}", trigger=Trigger.MANUAL,
              status=RunStatus.AWAITING_APPROVAL, started_at=now)
    run.steps = [RunStep(step_index=i, tool_name=tool, tool_input=data, needs_approval=needs, attempts=1,
                         status=StepStatus.AWAITING_APPROVAL if needs else StepStatus.COMPLETED, started_at=now,
                         output=None if needs else {"text": f"part {i}"}) for i, (tool, data, needs) in enumerate(steps)]
    waiting = run.steps[-1]
    approvals = [Approval(run_step=waiting, run=run, status=ApprovalStatus.REVISE, proposed_input=WEBHOOK,
                          feedback="shorter", expires_at=now + timedelta(hours=1)) for _ in range(size)]
    pending = Approval(run_step=waiting, run=run, proposed_input=WEBHOOK, expires_at=now + timedelta(hours=1))
    db.session.add_all([workflow, run, *approvals, pending])
    db.session.flush()
    db.session.add_all([Asset(run_id=run.id, step_index=i, kind="text", title=f"Part {i}", content="# Part")
                        for i in range(size)])
    db.session.add_all([Message(conversation_id=run.conversation_id, position=i, role=("user", "assistant")[i % 2],
                                content="hello", step_index=i // 2) for i in range(2 * size)])
    db.session.add_all([Outbox(to=EMAIL, subject=f"Mail {i}", text="hi", dedup_key=uuid.uuid4().hex)
                        for i in range(size)])
    db.session.commit()
    return Subject(workflow.id, run.id, pending.id)


def _around(owner_id: int, workflows: int, runs: int) -> None:
    """Other workflows of the same owner, each with finished runs and a decided approval."""
    for index in range(workflows):
        _subject(owner_id, 1)
        workflow = Workflow(owner_id=owner_id, goal=f"Digest {index}", schedule="*/15 * * * *",
                            steps=[WorkflowStep(index=0, tool_name="compose", tool_input={"template": "x"})])
        db.session.add(workflow)
        db.session.add_all([Run(workflow=workflow, conversation_id=f"conv_{uuid.uuid4().hex}",
                                trigger=Trigger.SCHEDULE, status=RunStatus.COMPLETED) for _ in range(runs)])
    db.session.commit()


def _paths(app, client, subject: Subject) -> dict[str, str]:
    services = app.extensions["stepwise"]
    link = outbox.approval_link(services, subject.approval).removeprefix(services.settings.app_base_url)
    client.post("/auth/reset", data={"email": EMAIL, "csrf_token": csrf_from(client.get("/auth/reset").get_data(as_text=True))})
    with app.app_context():
        mail = db.session.scalars(db.select(Outbox).where(Outbox.subject == "Reset your Stepwise password")
                                  .order_by(Outbox.id.desc())).first()
    reset = re.search(r"/auth/reset/[\w.-]+", mail.text).group(0)
    values = {"w": subject.workflow, "r": subject.run, "a": subject.approval, "link": link, "reset": reset}
    return {template: template.removeprefix(HTMX).format(**values) for template in PAGES}


def _measure(app, client, subject: Subject) -> dict[str, int]:
    """Statements per page; every page must answer, read only, deferred."""
    counts = {}
    for template, path in _paths(app, client, subject).items():
        headers = {"HX-Request": "true"} if template.startswith(HTMX) else {}
        with statements(app) as seen:
            status = client.get(path, headers=headers).status_code
        assert status in (200, 301, 302) or path.endswith("/connect"), f"{path} answered {status}"
        writes = [s for s in seen if not s.lstrip().upper().startswith(("SELECT", "BEGIN", "WITH"))]
        assert not writes, f"{path} wrote: {writes}"
        assert "BEGIN IMMEDIATE" not in seen, f"{path} took the write lock"
        counts[template] = len([s for s in seen if not s.startswith("BEGIN")])
    return counts


@pytest.fixture
def ada(app, auth, queue) -> int:
    """Ada, registered and logged in; her id (with another user's rows beside hers)."""
    auth.register(EMAIL)
    with app.app_context():
        _around(accounts.create_user("bob@example.com", "correct-horse-1").id, 2, 3)
        return accounts.user_by_email(EMAIL).id


def test_every_read_only_endpoint_has_a_page_here(app):
    adapter = app.url_map.bind("localhost")
    covered = {adapter.match(template.removeprefix(HTMX).split("?")[0].format(w="w", r=1, a=1, link="/approvals/x.y",
                                                           reset="/auth/reset/x.y"))[0] for template in PAGES}
    assert covered == READ_ONLY_ENDPOINTS


def test_statements_per_page_are_pinned_and_do_not_grow_with_rows(app, client, ada):
    with app.app_context():
        small = _subject(ada, 1)
    few = _measure(app, client, small)
    with app.app_context():
        _around(ada, 20, 10)
        big = _subject(ada, 6)
    many = _measure(app, client, big)
    assert few == PAGES, "statements per page (a handful of rows) changed"
    assert many == PAGES, "statements per page grew with the rows"
