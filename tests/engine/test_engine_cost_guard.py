"""The cost guard end to end: the app, qstash_dev and the scripted model server over real HTTP.

A step that would take the month's spend past the workflow's budget never calls the model: the
run pauses (`paused_budget`), the workflow is paused with its QStash schedule, the owner gets one
email, and the run goes on from that step once the budget is raised and it is resumed.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from qstash import QStash

from extensions import db
from models import Outbox, PendingPublish, Workflow
from tests.engine.conftest import compose
from tests.support.waiting import eventually

WRITE = {"toolName": "write", "toolInput": {"instructions": "Summarise the news in one line",
                                            "context": "{{ steps[0].output.text }}"}}


@pytest.fixture
def llm_stack(make_stack, fake):
    return make_stack(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", LLM_MODEL="gpt-4o-mini")


def _schedule(stack, workflow_id: str):
    return {s.schedule_id: s for s in QStash(stack.qstash.token, base_url=stack.qstash.url).schedule.list()}[
        f"wf-{workflow_id}"]


def _budget_emails(stack) -> list[Outbox]:
    with stack.db():
        rows = db.session.scalars(sa.select(Outbox).where(Outbox.dedup_key.like("budget-%"))).all()
        db.session.expunge_all()
        return rows


def _workflow_row(stack, workflow_id: str) -> Workflow:
    with stack.db():
        row = db.session.get(Workflow, workflow_id)
        db.session.expunge(row)
        return row


def _dedup_ids(stack, run_id: int) -> list[str]:
    with stack.db():
        return list(db.session.scalars(sa.select(PendingPublish.dedup_id).where(PendingPublish.run_id == run_id)
                                       .order_by(PendingPublish.id)))


def _tick(stack, workflow_id: str, n: int) -> dict:
    stack.clock.advance(minutes=1)
    return stack.deliver("/api/workflows/trigger", {"workflowId": workflow_id}, message_id=f"msg_{workflow_id}_{n}").json()


def test_a_write_step_over_budget_pauses_run_and_workflow_then_resumes_once_raised(llm_stack, fake):
    stack = llm_stack
    workflow = stack.create_workflow(goal="Daily market line", schedule="0 9 * * 1", budgetUsd=0.00001,
                                     steps=[compose("Markets rallied today."), WRITE])
    assert workflow["budgetUsd"] == 0.00001
    run_id = stack.run_now(workflow["id"])

    run = stack.wait_run(run_id, "paused_budget")
    assert "cost guard paused this run before step 2 (write)" in run["error"]
    assert run["steps"][0]["status"] == "completed" and run["steps"][0]["output"] == {"text": "Markets rallied today."}
    assert (run["steps"][1]["status"], run["steps"][1]["attempts"], run["steps"][1]["startedAt"]) == ("pending", 0, None)
    assert run["costUsd"] == 0
    stack.wait_delivered(run_id)  # every message answered: the paused step is not redelivered
    assert fake.requests == []
    assert stack.run(run_id)["steps"][1]["attempts"] == 0

    shown = stack.api("GET", f"/api/workflows/{workflow['id']}").json()
    assert shown["paused"] is True and shown["nextRuns"] == []
    # QStash is told right after the pause's commit; the flag is cleared once it agreed (nothing left for the sweep).
    eventually(lambda: _workflow_row(stack, workflow["id"]).schedule_changing_since is None,
               what="the schedule to be synced")
    assert _schedule(stack, workflow["id"]).paused is True
    [email] = _budget_emails(stack)
    assert email.to == "owner@example.com" and "Paused by the cost guard" in email.subject
    assert f"{stack.url}/workflows/{workflow['id']}" in email.text and "Raise the budget" in email.text
    assert _workflow_row(stack, workflow["id"]).active_run_id is None  # the paused run holds no slot

    refused = stack.api("POST", f"/api/runs/{run_id}/resume")
    assert refused.status_code == 409 and refused.json()["error"].startswith("Raise the budget first")
    assert stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"budgetUsd": 1.5}).status_code == 200
    fake.enqueue_text("Stocks up: a good day.", prompt_tokens=300, completion_tokens=20)
    resumed = stack.api("POST", f"/api/runs/{run_id}/resume")
    assert resumed.status_code == 202 and resumed.json()["status"] == "running" and resumed.json()["error"] is None

    run = stack.wait_run(run_id)
    assert run["status"] == "completed", run
    assert run["steps"][1]["output"]["text"] == "Stocks up: a good day." and run["steps"][1]["attempts"] == 1
    assert run["costUsd"] == pytest.approx((300 * 0.15 + 20 * 0.60) / 1_000_000, rel=1e-3)
    assert _dedup_ids(stack, run_id)[-1] == f"wf-{workflow['id']}-run-{run_id}-step-1-resume-1"
    assert len(_budget_emails(stack)) == 1
    assert stack.api("POST", f"/api/runs/{run_id}/resume").status_code == 409  # completed: nothing to resume


def test_an_agent_step_is_guarded_by_its_median_cost_and_the_months_spend(llm_stack, fake, recorder):
    stack = llm_stack
    step = {"toolName": "http_request", "toolInput": {"url": recorder.url + "/hook"},
            "instruction": "Post a greeting as JSON", "needsApproval": False}
    workflow = stack.create_workflow(goal="Greet the hook", steps=[step])
    fake.enqueue_tool_call("http_request", {"json": {"text": "hi"}}, prompt_tokens=10_000, completion_tokens=1_000)
    assert stack.wait_run(stack.run_now(workflow["id"]))["status"] == "completed"
    one_run = (10_000 * 0.15 + 1_000 * 0.60) / 1_000_000

    shown = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"budgetUsd": 1.5 * one_run}).json()
    assert shown["monthSpendUsd"] == pytest.approx(one_run) and shown["projectedRunCostUsd"] == pytest.approx(one_run)
    run_id = stack.run_now(workflow["id"])
    run = stack.wait_run(run_id, "paused_budget")
    assert "plus the step's expected $0.0021" in run["error"]  # the median of the completed run's step
    assert len(fake.requests) == 1 and len(recorder.requests) == 1  # no model call, no webhook

    stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"budgetUsd": 2.5 * one_run})
    fake.enqueue_tool_call("http_request", {"json": {"text": "hello again"}}, prompt_tokens=10, completion_tokens=5)
    assert stack.api("POST", f"/api/runs/{run_id}/resume").status_code == 202
    assert stack.wait_run(run_id)["status"] == "completed"
    assert recorder.requests[-1].text() == '{"text": "hello again"}'


def test_a_budget_paused_run_frees_the_overlap_slot_and_the_owner_is_mailed_once(llm_stack, fake):
    stack = llm_stack
    workflow = stack.create_workflow(goal="Every minute", schedule="* * * * *", budgetUsd=0,
                                     steps=[{"toolName": "write", "toolInput": {"instructions": "A haiku"}}])
    first = _tick(stack, workflow["id"], 1)
    assert first["status"] == "started"
    stack.wait_run(first["runId"], "paused_budget")
    # The step pauses QStash's schedule after its commit, under the schedule's change mark; until
    # its delivery is answered, a PATCH of the schedule is (rightly) a 409 "in progress".
    stack.wait_delivered(first["runId"])
    assert stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"paused": False}).json()["paused"] is False

    second = _tick(stack, workflow["id"], 2)  # overlap skip, yet the paused run holds no slot
    assert second["status"] == "started"
    stack.wait_run(second["runId"], "paused_budget")
    stack.wait_delivered(second["runId"])
    assert len(_budget_emails(stack)) == 1  # one per workflow, month and budget
    assert fake.requests == []

    cancelled = stack.api("POST", f"/api/runs/{first['runId']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["steps"][0]["status"] == "cancelled"
