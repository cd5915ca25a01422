"""Overlap supersede on the pages: the approval card and the emailed link say when the run will be
superseded, a superseded approval's link and the History tab say by which run, the run page
links to it, and the form offers the policy with that sentence."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from extensions import db
from models import Approval, ApprovalStatus, Outbox, Overlap, Run, RunStatus, StepStatus, Trigger, Workflow, utcnow
from tests.conftest import csrf_from
from tests.dashboard.conftest import HX, csrf, text_of
from tests.dashboard.test_dashboard_form import compose_step, form
from tests.support.approvals import seed
from workflows.engine import outbox
from workflows.integrations import accounts

NEXT_TICK = "0 9 * * 1"  # Mondays at 09:00


def _under_supersede(workflow_id: str, run_id: int, **changes) -> None:
    values = {"schedule": NEXT_TICK, "overlap": Overlap.SUPERSEDE, "active_run_id": run_id, **changes}
    db.session.execute(sa.update(Workflow).where(Workflow.id == workflow_id).values(**values))
    db.session.commit()


def _next_monday_nine(now: datetime) -> datetime:
    days = (7 - now.weekday()) % 7
    tick = (now + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)
    return tick if tick > now else tick + timedelta(days=7)


def _superseded(approval_id: int, run_id: int, workflow_id: str, tick: datetime) -> int:
    """The rows a superseding tick leaves: run and approval superseded, the newer run named."""
    newer = Run(workflow_id=workflow_id, conversation_id=f"conv_{approval_id}_newer", trigger=Trigger.SCHEDULE,
                status=RunStatus.AWAITING_APPROVAL, scheduled_for=tick, created_at=tick)
    db.session.add(newer)
    db.session.flush()
    run = db.session.get(Run, run_id)
    run.status, run.superseded_by_id, run.finished_at = RunStatus.SUPERSEDED, newer.id, tick
    run.error = f"superseded by the run of {tick:%Y-%m-%d %H:%M} UTC (run #{newer.id})"
    run.steps[0].status = StepStatus.CANCELLED
    approval = db.session.get(Approval, approval_id)
    approval.status, approval.decided_at = ApprovalStatus.SUPERSEDED, tick
    newer_id = newer.id
    db.session.commit()
    return newer_id


def _link(app, approval_id: int) -> str:
    services = app.extensions["stepwise"]
    return outbox.approval_link(services, approval_id).removeprefix(services.settings.app_base_url)


def test_the_card_says_when_the_run_will_be_superseded(app, client, ada):
    with app.app_context():
        approval_id, run_id, workflow_id = seed(ada, "http_request", expires_in=timedelta(days=8))
        _under_supersede(workflow_id, run_id)
    tick = _next_monday_nine(utcnow())
    html = client.get("/approvals").get_data(as_text=True)
    assert f"this run will be superseded at {tick:%Y-%m-%d %H:%M} UTC" in text_of(html)
    client.set_cookie("tz", "America/New_York")  # the viewer's zone
    local = tick.astimezone(ZoneInfo("America/New_York"))
    card = client.get(f"/approvals/{approval_id}/card", headers=HX).get_data(as_text=True)
    assert f"this run will be superseded at {local:%Y-%m-%d %H:%M} {local.tzname()}" in text_of(card)


@pytest.mark.parametrize("changes, why", [
    ({"overlap": Overlap.SKIP}, "another policy"),
    ({"paused": True}, "paused: no tick comes"),
    ({"schedule": None}, "no schedule"),
    ({"active_run_id": None}, "not the active run"),
])
def test_no_supersede_sentence_when_no_tick_will_supersede_the_run(app, client, ada, changes, why):
    with app.app_context():
        _, run_id, workflow_id = seed(ada, "http_request", expires_in=timedelta(days=8))
        _under_supersede(workflow_id, run_id, **changes)
    assert "will be superseded" not in client.get("/approvals").get_data(as_text=True), why


def test_no_supersede_sentence_when_the_approval_expires_before_the_next_tick(app, client, ada):
    with app.app_context():
        _, run_id, workflow_id = seed(ada, "http_request", expires_in=timedelta(minutes=5))
        _under_supersede(workflow_id, run_id, schedule="0 0 1 1 *")  # next January
    assert "will be superseded" not in client.get("/approvals").get_data(as_text=True)


def test_the_open_link_and_the_email_say_it_too(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, run_id, workflow_id = seed("ada@example.com", "http_request", expires_in=timedelta(days=8))
        _under_supersede(workflow_id, run_id)
        outbox.queue_approval_request(app.extensions["stepwise"], approval_id)
        db.session.commit()
        email = db.session.scalar(sa.select(Outbox.text))
    tick = _next_monday_nine(utcnow())
    assert f"this run will be superseded at {tick:%Y-%m-%d %H:%M} UTC" in text_of(client.get(_link(app, approval_id)).get_data(as_text=True))
    assert f"this run will be superseded at {tick:%Y-%m-%d %H:%M} UTC" in email


def test_a_superseded_link_says_by_which_run_and_decides_nothing(app, client, queue):
    tick = datetime(2026, 5, 11, 9, 0, tzinfo=timezone.utc)
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, run_id, workflow_id = seed("ada@example.com", "http_request")
        newer = _superseded(approval_id, run_id, workflow_id, tick)
    path = _link(app, approval_id)
    html = client.get(path).get_data(as_text=True)
    assert "<h1>Superseded</h1>" in html and ">Approve</button>" not in html
    assert "This approval was superseded by the run of 2026-05-11 09:00 UTC" in text_of(html)
    assert f'href="/runs/{newer}"' in html
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post(path, data={"decision": "approve", "csrf_token": token})
    assert response.status_code == 409
    assert f"superseded by the run of 2026-05-11T09:00:00Z (run #{newer})" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Approval, approval_id).status == ApprovalStatus.SUPERSEDED
    assert queue.published == []


def test_history_and_the_run_page_name_the_run_that_took_its_place(app, client, ada):
    tick = datetime(2026, 5, 11, 9, 0, tzinfo=timezone.utc)
    with app.app_context():
        approval_id, run_id, workflow_id = seed(ada, "http_request")
        newer = _superseded(approval_id, run_id, workflow_id, tick)
    history = client.get("/approvals?tab=history").get_data(as_text=True)
    row = history[history.index(f'id="history-{approval_id}"'):]
    assert ">Superseded</span>" in row and "by the run of" in row and f'href="/runs/{newer}"' in row
    assert "2026-05-11 09:00 UTC" in row
    run_page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert f'Superseded by <a href="/runs/{newer}">run #{newer}</a>: its approval was still open when the next tick came' in run_page
    assert f"/runs/{run_id}" in client.get("/runs?status=superseded").get_data(as_text=True)


def test_the_form_offers_supersede_with_its_sentence_and_saves_it(app, client, user, queue):
    html = client.get("/workflows/new").get_data(as_text=True)
    assert '<option value="supersede">supersede: the next tick replaces a run still awaiting approval</option>' in html
    assert "this run will be superseded at &lt;next tick&gt;" in html
    response = client.post("/workflows/new", data=form(csrf(client), schedule=NEXT_TICK, overlap="supersede",
                                                       **compose_step()))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(sa.select(Workflow)).one().overlap == Overlap.SUPERSEDE
    edit = client.get(response.location + "/edit").get_data(as_text=True)
    assert '<option value="supersede" selected>' in edit
