"""What a workflow costs (budgetUsd, monthSpendUsd, projectedRunCostUsd) and how the cost guard's
pause reaches QStash's schedule (after its commit, or by the sweep, and against an owner's change
racing it), through the API and the domain with an in-memory queue (no servers)."""
from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from extensions import db
from models import Outbox, Run, RunStatus, Trigger, Workflow, utcnow
from tests.conftest import bearer
from workflows.authoring import editing
from workflows.engine import consumers, costs, delivery, runs, schedules
from workflows.errors import Conflict
from workflows.integrations.llm import DRAFT_SYSTEM, cost_usd

WRITE = {"toolName": "write", "toolInput": {"instructions": "A haiku about budgets"}}
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)  # 23:00 on 1 March in Auckland (UTC+13)


class NoModel:
    """A model that must never be asked: the cost guard stops the step before any call."""

    model = "gpt-4o-mini"

    def chat(self, *args, **kwargs):
        raise AssertionError("the model was called although the budget did not allow it")

    draft = chat


@pytest.fixture
def token(api_user):
    return api_user[1]


@pytest.mark.parametrize("value, status, message", [
    ("5", 400, "budgetUsd must be a number of US dollars, or null for no budget"),
    (True, 400, "budgetUsd must be a number of US dollars, or null for no budget"),
    (-0.01, 422, "budgetUsd must be from 0 to 1,000,000 US dollars a month"),
    (1e7, 422, "budgetUsd must be from 0 to 1,000,000 US dollars a month"),
])
def test_a_bad_budget_names_the_field_and_stores_nothing(client, token, services, value, status, message):
    response = client.post("/api/workflows", json={"goal": "g", "steps": [WRITE], "budgetUsd": value},
                           headers=bearer(token))
    assert (response.status_code, response.json) == (status, {"error": message, "field": "budgetUsd"})
    with client.application.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Workflow.id))) == 0


def test_a_budget_is_set_changed_and_removed(client, token, services):
    created = client.post("/api/workflows", json={"goal": "g", "steps": [WRITE], "budgetUsd": 5},
                          headers=bearer(token)).json
    assert (created["budgetUsd"], created["monthSpendUsd"], created["projectedRunCostUsd"]) == (5.0, 0, 0)
    path = f"/api/workflows/{created['id']}"
    assert client.patch(path, json={"budgetUsd": 12.5}, headers=bearer(token)).json["budgetUsd"] == 12.5
    assert client.patch(path, json={"budgetUsd": None}, headers=bearer(token)).json["budgetUsd"] is None
    listed = client.get("/api/workflows", headers=bearer(token)).json["items"]
    assert [(w["budgetUsd"], w["monthSpendUsd"]) for w in listed] == [(None, 0)]


def _run(workflow_id: str, created_at: datetime, cost: float, status: RunStatus = RunStatus.COMPLETED) -> None:
    db.session.add(Run(workflow_id=workflow_id, conversation_id=uuid.uuid4().hex, trigger=Trigger.API,
                       status=status, created_at=created_at, cost_usd=cost))


def test_the_month_is_the_calendar_month_in_the_workflows_zone(app, client, token, services):
    services.clock = lambda: NOW
    ids = {}
    for zone in ("Pacific/Auckland", "UTC"):
        ids[zone] = client.post("/api/workflows", json={"goal": zone, "steps": [WRITE], "timezone": zone},
                                headers=bearer(token)).json["id"]
    with app.app_context():
        for workflow_id in ids.values():
            _run(workflow_id, datetime(2026, 2, 28, 10, 0, tzinfo=timezone.utc), 0.25)  # February everywhere
            _run(workflow_id, datetime(2026, 2, 28, 12, 0, tzinfo=timezone.utc), 0.5)  # 1 March in Auckland
            _run(workflow_id, datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc), 0.125, RunStatus.FAILED)
        db.session.commit()
    spend = {zone: client.get(f"/api/workflows/{i}", headers=bearer(token)).json["monthSpendUsd"]
             for zone, i in ids.items()}
    assert spend == {"Pacific/Auckland": 0.625, "UTC": 0.125}
    listed = {w["id"]: w["monthSpendUsd"] for w in client.get("/api/workflows", headers=bearer(token)).json["items"]}
    assert listed == {ids["Pacific/Auckland"]: 0.625, ids["UTC"]: 0.125}


def test_projected_cost_is_the_median_of_the_last_10_completed_runs(app, client, token, services):
    workflow_id = client.post("/api/workflows", json={"goal": "g", "steps": [WRITE]}, headers=bearer(token)).json["id"]
    with app.app_context():
        for cost in [9.0, 9.0, 0.1, 0.3, 0.2, 0.1, 0.3, 0.2, 0.1, 0.3, 0.2]:  # the first (oldest) drops out
            _run(workflow_id, NOW, cost)
        _run(workflow_id, NOW, 7.0, RunStatus.FAILED)  # only completed runs count
        db.session.commit()
    shown = client.get(f"/api/workflows/{workflow_id}", headers=bearer(token)).json
    assert shown["projectedRunCostUsd"] == 0.2


def test_without_history_a_run_is_projected_from_its_plans_prompts(app, client, token, services):
    workflow_id = client.post("/api/workflows", json={"goal": "g", "steps": [WRITE]}, headers=bearer(token)).json["id"]
    assert client.get(f"/api/workflows/{workflow_id}", headers=bearer(token)).json["projectedRunCostUsd"] == 0
    services.llm = NoModel()  # with a model configured, the write step's prompt is priced
    projected = client.get(f"/api/workflows/{workflow_id}", headers=bearer(token)).json["projectedRunCostUsd"]
    chars = len(DRAFT_SYSTEM) + len(json.dumps(WRITE["toolInput"]))
    assert projected == pytest.approx(cost_usd("gpt-4o-mini", -(-chars // 4), 0), abs=1e-6) and projected > 0


def _over_budget(app, services) -> str:
    """A scheduled workflow with a budget of 0 whose write step the guard will stop, its run started."""
    services.llm = NoModel()
    with app.app_context():
        owner = db.session.execute(sa.text("SELECT id FROM users")).scalar_one()
        workflow = editing.create_workflow(services, owner, {"goal": "Haiku", "schedule": "0 9 * * *",
                                                             "budgetUsd": 0, "steps": [WRITE]})
        runs.start_now(services, workflow, Trigger.API)
        return workflow.id


def _guard_stops_the_step(app, services) -> None:
    with app.app_context():
        reply = delivery.handle_step(services, services.queue.published[-1].body)
        assert reply.status == 200 and reply.body["status"] == "paused_budget"


def _paused_by_the_guard(app, services, queue_down: bool) -> str:
    """A scheduled workflow with a budget of 0 whose write step the guard stopped."""
    workflow_id = _over_budget(app, services)
    services.queue.unreachable = queue_down
    _guard_stops_the_step(app, services)
    return workflow_id


def _in_qstash(services, workflow_id: str) -> tuple[str, bool]:
    """The workflow's schedule as QStash holds it: (cron, paused)."""
    schedule = services.queue.schedules[f"wf-{workflow_id}"]
    return schedule["cron"], schedule["isPaused"]


def _marked(workflow_id: str) -> bool:
    """Whether the workflow is marked: QStash's schedule may disagree with it until the sweep."""
    return db.session.get(Workflow, workflow_id).schedule_changing_since is not None


def _state(services, workflow_id: str) -> tuple[bool, bool, bool]:
    """(paused in the database, marked, paused in QStash)."""
    return db.session.get(Workflow, workflow_id).paused, _marked(workflow_id), _in_qstash(services, workflow_id)[1]


def _later(services, minutes: int = 2):
    """Services whose clock reads `minutes` from now: a mark left fresh is due by then."""
    return replace(services, clock=lambda: utcnow() + timedelta(minutes=minutes))


def test_the_guards_pause_reaches_qstash_after_its_commit_and_leaves_no_mark(app, api_user, services):
    workflow_id = _paused_by_the_guard(app, services, queue_down=False)
    with app.app_context():
        assert _state(services, workflow_id) == (True, False, True)
        assert consumers.sweep(_later(services))["schedulesRepaired"] == 0


def test_a_schedule_qstash_could_not_pause_is_paused_by_the_sweep(app, api_user, services):
    workflow_id = _paused_by_the_guard(app, services, queue_down=True)
    with app.app_context():
        assert _state(services, workflow_id) == (True, True, False)
        assert db.session.scalar(sa.select(sa.func.count(Outbox.id)).where(Outbox.dedup_key.like("budget-%"))) == 1
        # Meanwhile the database is what counts: a tick of the paused workflow starts nothing.
        assert consumers.handle_trigger(services, {"workflowId": workflow_id}, "msg_tick").body["status"] == "paused"
        services.queue.unreachable = False
        assert consumers.sweep(services)["schedulesRepaired"] == 1  # QStash failed: due at the next sweep
        assert _state(services, workflow_id) == (True, False, True)
        assert consumers.sweep(services)["schedulesRepaired"] == 0


def test_a_process_that_dies_after_the_guards_commit_leaves_the_pause_to_the_sweep(app, api_user, services,
                                                                                     monkeypatch):
    monkeypatch.setattr(schedules, "settle", lambda *args: False)  # the process is gone before it calls QStash
    workflow_id = _paused_by_the_guard(app, services, queue_down=False)
    monkeypatch.undo()
    with app.app_context():
        assert _state(services, workflow_id) == (True, True, False)
        assert consumers.sweep(services)["schedulesRepaired"] == 0  # a fresh mark may still be settling
        assert consumers.sweep(_later(services))["schedulesRepaired"] == 1
        assert _state(services, workflow_id) == (True, False, True)


def test_an_owners_resume_while_the_sweep_pauses_the_schedule_is_refused_until_it_is_done(app, api_user, services):
    """The sweep read `paused` and is telling QStash; the owner's Resume meanwhile is a 409 that
    changes nothing, so the sweep's late pause cannot undo it. Afterwards it goes through."""
    workflow_id = _paused_by_the_guard(app, services, queue_down=True)
    services.queue.unreachable = False
    real_pause, refused = services.queue.pause_schedule, []

    def owner_resumes_first(schedule_id: str) -> None:
        with app.app_context():
            with pytest.raises(Conflict, match="in progress") as caught:
                editing.update_workflow(services, db.session.get(Workflow, workflow_id), {"paused": False})
            refused.append(caught.value)
        real_pause(schedule_id)

    services.queue.pause_schedule = owner_resumes_first
    with app.app_context():
        assert consumers.sweep(services)["schedulesRepaired"] == 1
        services.queue.pause_schedule = real_pause
        assert len(refused) == 1
        assert _state(services, workflow_id) == (True, False, True)
        editing.update_workflow(services, db.session.get(Workflow, workflow_id), {"paused": False})
        assert _state(services, workflow_id) == (False, False, False)


def test_the_guard_pausing_during_an_owners_change_is_brought_to_qstash_by_the_sweep(app, api_user, services):
    """The owner's new schedule is on its way to QStash (resumed, as the owner read it) when the
    guard pauses the workflow: both writes stay, and the sweep pauses QStash's schedule too."""
    workflow_id = _over_budget(app, services)
    step_message = services.queue.published[-1].body
    real_upsert = services.queue.upsert_schedule

    def guard_pauses_first(*args) -> None:
        with app.app_context():
            assert delivery.handle_step(services, step_message).body["status"] == "paused_budget"
        real_upsert(*args)

    services.queue.upsert_schedule = guard_pauses_first
    with app.app_context():
        editing.update_workflow(services, db.session.get(Workflow, workflow_id), {"schedule": "30 6 * * *"})
        services.queue.upsert_schedule = real_upsert
        workflow = db.session.get(Workflow, workflow_id)
        assert (workflow.schedule, workflow.paused, _marked(workflow_id)) == ("30 6 * * *", True, True)
        assert _in_qstash(services, workflow_id) == ("30 6 * * *", False)  # they disagree for now
        assert consumers.handle_trigger(services, {"workflowId": workflow_id}, "msg_tick").body["status"] == "paused"
        assert consumers.sweep(services)["schedulesRepaired"] == 1
        assert (_in_qstash(services, workflow_id), _marked(workflow_id)) == (("30 6 * * *", True), False)


def test_a_no_op_pause_field_never_undoes_the_guards_pause(app, api_user, services):
    """A PATCH that read `paused: false` and sends it back unchanged, while the guard paused the
    workflow after that read, leaves the guard's pause standing in the database and in QStash."""
    workflow_id = _over_budget(app, services)
    with app.app_context():
        workflow = db.session.get(Workflow, workflow_id)
        assert workflow.paused is False  # what the PATCH read
        # The PATCH ends its read transaction before it writes; the guard pauses right then.
        event.listen(db.session(), "after_rollback", lambda _: _guard_stops_the_step(app, services), once=True)
        editing.update_workflow(services, workflow, {"paused": False, "goal": "Haiku, weekly"})
        workflow = db.session.get(Workflow, workflow_id)
        assert (workflow.goal, workflow.paused, _marked(workflow_id)) == ("Haiku, weekly", True, False)
        assert _in_qstash(services, workflow_id)[1] is True


@pytest.mark.parametrize("amount, shown", [(0, "$0.00"), (4.98, "$4.98"), (1234.5, "$1,234.50"), (0.05, "$0.05"),
                                           (0.0021, "$0.002100"), (0.0004125, "$0.0004125"), (None, "—")])
def test_money_reads_as_people_read_it(amount, shown):
    assert costs.usd(amount) == shown


def test_month_start_is_midnight_on_the_first_in_the_zone():
    assert costs.month_start("Pacific/Auckland", NOW).isoformat() == "2026-03-01T00:00:00+13:00"
    assert costs.month_start("America/New_York", NOW).isoformat() == "2026-03-01T00:00:00-05:00"
    assert costs.month_start("UTC", datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)).day == 1
