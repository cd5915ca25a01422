"""Schedules: registration in QStash, ticks, one run per tick, overlap, sync, unreachable QStash."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from qstash import QStash

from extensions import db
from models import Run, RunStatus, Workflow, utcnow
from tests.conftest import create_user_with_token
from tests.engine.conftest import compose
from tests.support.qstash_server import free_port
from tests.support.waiting import eventually
from workflows.authoring import editing
from workflows.engine import runs

APPROVAL_STEP = {"toolName": "send_email", "toolInput": {"to": "a@example.com", "subject": "s", "body": "b"}}


def _schedules(stack) -> dict[str, object]:
    client = QStash(stack.qstash.token, base_url=stack.qstash.url)
    return {s.schedule_id: s for s in client.schedule.list()}


def test_schedule_is_registered_updated_paused_and_deleted_in_qstash(stack):
    workflow = stack.create_workflow(goal="Weekly", schedule="0 9 * * 1", timezone="Europe/Berlin",
                                     steps=[compose("hi")])
    sid = f"wf-{workflow['id']}"
    assert workflow["qstashScheduleId"] == sid
    schedule = _schedules(stack)[sid]
    assert schedule.cron == "CRON_TZ=Europe/Berlin 0 9 * * 1"
    assert schedule.destination == stack.url + "/api/workflows/trigger"
    assert json.loads(schedule.body) == {"workflowId": workflow["id"]}

    changed = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"schedule": "30 8 * * *", "timezone": "UTC"})
    assert changed.status_code == 200, changed.text
    assert _schedules(stack)[sid].cron == "30 8 * * *"

    paused = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"paused": True}).json()
    assert paused["paused"] is True and paused["nextRuns"] == []
    assert _schedules(stack)[sid].paused is True
    stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"paused": False})
    assert _schedules(stack)[sid].paused is False

    assert stack.api("DELETE", f"/api/workflows/{workflow['id']}").status_code == 204
    assert sid not in _schedules(stack)
    assert stack.api("GET", f"/api/workflows/{workflow['id']}").status_code == 404


def test_removing_the_schedule_deletes_it(stack):
    workflow = stack.create_workflow(goal="Then manual", schedule="*/5 * * * *", steps=[compose("hi")])
    updated = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"schedule": None}).json()
    assert updated["qstashScheduleId"] is None and updated["nextRuns"] == []
    assert f"wf-{workflow['id']}" not in _schedules(stack)


def test_next_runs_carry_the_workflow_timezone_offset(stack):
    workflow = stack.create_workflow(goal="Tz", schedule="0 9 * * *", timezone="America/New_York", steps=[compose("x")])
    assert len(workflow["nextRuns"]) == 5
    for text in workflow["nextRuns"]:
        assert text.endswith("-05:00") or text.endswith("-04:00")
        assert "T09:00:00" in text


def test_dev_fire_starts_a_scheduled_run(stack):
    workflow = stack.create_workflow(goal="Fire", schedule="0 9 * * 1", steps=[compose("tick")])
    fired = httpx.post(f"{stack.qstash.url}/_dev/schedules/wf-{workflow['id']}/fire",
                       headers={"Authorization": f"Bearer {stack.qstash.token}"})
    assert fired.status_code == 200, fired.text
    items = eventually(lambda: stack.api("GET", f"/api/workflows/{workflow['id']}/runs").json()["items"],
                       until=lambda items: items and items[0]["status"] == "completed", timeout=20,
                       what="the fired tick's run to complete")
    assert len(items) == 1 and items[0]["trigger"] == "schedule"
    assert items[0]["scheduledFor"] is not None


def test_a_tick_delivered_twice_makes_one_run(stack):
    workflow = stack.create_workflow(goal="Once", schedule="* * * * *", steps=[compose("x")])
    body = {"workflowId": workflow["id"]}
    first = stack.deliver("/api/workflows/trigger", body, message_id="msg_tick_1")
    again = stack.deliver("/api/workflows/trigger", body, message_id="msg_tick_1")
    other_message_same_tick = stack.deliver("/api/workflows/trigger", body, message_id="msg_tick_1b")
    assert first.json()["status"] == "started"
    assert again.json()["status"] == "duplicate" and other_message_same_tick.json()["status"] == "duplicate"
    assert len(stack.api("GET", f"/api/workflows/{workflow['id']}/runs").json()["items"]) == 1


def _tick(stack, workflow_id: str, n: int) -> dict:
    stack.clock.advance(minutes=1)
    return stack.deliver("/api/workflows/trigger", {"workflowId": workflow_id}, message_id=f"msg_{workflow_id}_{n}").json()


def test_overlap_skip_records_a_skipped_run(stack):
    workflow = stack.create_workflow(goal="Skip", schedule="* * * * *", steps=[APPROVAL_STEP])
    first = _tick(stack, workflow["id"], 1)
    stack.wait_approval(first["runId"])
    second = _tick(stack, workflow["id"], 2)
    assert second["status"] == "skipped"
    run = stack.run(second["runId"])
    assert run["status"] == "skipped" and run["steps"][0]["status"] == "skipped"


def test_overlap_queue_keeps_one_waiting_run_started_when_the_active_one_finishes(stack):
    workflow = stack.create_workflow(goal="Queue", schedule="* * * * *", overlap="queue", steps=[APPROVAL_STEP])
    first = _tick(stack, workflow["id"], 1)
    approval = stack.wait_approval(first["runId"])
    second, third = _tick(stack, workflow["id"], 2), _tick(stack, workflow["id"], 3)
    assert (second["status"], third["status"]) == ("queued", "skipped")
    assert stack.run(second["runId"])["status"] == "pending"
    stack.decide(approval["id"], decision="approve")
    assert stack.wait_run(first["runId"])["status"] == "completed"
    assert stack.wait_approval(second["runId"])["status"] == "pending"  # the waiting run started


def test_overlap_allow_starts_every_tick(stack):
    workflow = stack.create_workflow(goal="Allow", schedule="* * * * *", overlap="allow", steps=[APPROVAL_STEP])
    first, second = _tick(stack, workflow["id"], 1), _tick(stack, workflow["id"], 2)
    assert first["status"] == second["status"] == "started"
    stack.wait_approval(first["runId"])
    stack.wait_approval(second["runId"])


def test_paused_workflow_ignores_ticks(stack):
    workflow = stack.create_workflow(goal="Paused", schedule="* * * * *", steps=[compose("x")])
    stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"paused": True})
    assert _tick(stack, workflow["id"], 1)["status"] == "paused"
    assert stack.api("GET", f"/api/workflows/{workflow['id']}/runs").json()["items"] == []


def test_trigger_for_an_unknown_workflow_is_non_retryable(stack):
    reply = stack.deliver("/api/workflows/trigger", {"workflowId": "0000000000000000"})
    assert reply.status_code == 489 and reply.headers["Upstash-NonRetryable-Error"] == "true"


@pytest.mark.parametrize("policy, expected", [
    ("skip", {"started": 1, "skipped": 7}),
    ("queue", {"started": 1, "queued": 1, "skipped": 6}),
    ("allow", {"started": 8}),
    # The first tick's run has not reached its approval yet: nothing to supersede, the rest skip.
    ("supersede", {"started": 1, "skipped": 7}),
])
def test_overlap_is_atomic_under_concurrent_ticks(app, services, policy, expected):
    user_id, _ = create_user_with_token(app, "ticks@example.com")
    with app.app_context():
        workflow_id = editing.create_workflow(services, user_id, {
            "goal": "race", "overlap": policy, "steps": [APPROVAL_STEP]}).id
        db.session.execute(sa.update(Workflow).where(Workflow.id == workflow_id).values(schedule="* * * * *"))
        db.session.commit()
    base = utcnow().replace(second=0, microsecond=0)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def tick(n: int) -> None:
        with app.app_context():
            barrier.wait()
            _, outcome = runs.start_scheduled(services, workflow_id, f"msg_race_{n}", base + timedelta(minutes=n))
            outcomes.append(outcome)

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert {k: outcomes.count(k) for k in set(outcomes)} == expected
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Run.id))) == 8
        statuses = db.session.scalars(sa.select(Run.status)).all()
        assert statuses.count(RunStatus.SKIPPED) == expected.get("skipped", 0)


def test_schedules_sync_recreates_schedules_and_the_sweep(stack):
    workflow = stack.create_workflow(goal="Sync", schedule="0 7 * * *", steps=[compose("x")])
    client = QStash(stack.qstash.token, base_url=stack.qstash.url)
    client.schedule.delete(f"wf-{workflow['id']}")
    client.schedule.create_json(destination=stack.url + "/api/workflows/trigger", cron="0 0 * * *",
                                body={"workflowId": "gone"}, schedule_id="wf-0000000000000000")
    runner = stack.app.test_cli_runner()
    result = runner.invoke(args=["schedules", "sync"])
    assert result.exit_code == 0, result.output
    assert f"created wf-{workflow['id']} (0 7 * * *)" in result.output
    assert "deleted orphan wf-0000000000000000" in result.output
    assert "stepwise-sweep" in result.output
    schedules = _schedules(stack)
    assert schedules["stepwise-sweep"].cron == "* * * * *"
    assert schedules["stepwise-sweep"].destination == stack.url + "/api/maintenance/sweep"
    again = runner.invoke(args=["schedules", "sync"])
    assert again.output.strip() == "schedules are in sync"


def test_unreachable_qstash_is_a_quick_503_and_changes_nothing(make_stack):
    stack = make_stack(QSTASH_URL=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    response = stack.api("POST", "/api/workflows", json={"goal": "x", "schedule": "0 9 * * *", "steps": [compose("x")]})
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and "QStash" in response.json()["error"]
    assert elapsed < 10
    with stack.db():
        assert db.session.scalar(sa.select(sa.func.count(Workflow.id))) == 0
