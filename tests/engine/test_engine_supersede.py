"""Overlap `supersede`: a tick ends a run still waiting for approval and starts a fresh one; a run
executing a step is left alone; a decision racing the tick: exactly one of them wins."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from models import Approval, ApprovalStatus, Channel, Overlap, Run, RunStatus, Workflow, utcnow
from tests.engine.conftest import compose, http_step
from tests.support.approvals import seed
from workflows.engine import approvals, runs
from workflows.errors import Conflict
from workflows.integrations import accounts

NEWS = compose("news of {{ run.id }}")


def _hook(recorder) -> dict:
    """A webhook step that waits for approval (the tool's policy)."""
    return {"toolName": "http_request", "toolInput": {"url": recorder.url + "/hook", "json": {"text": "{{ steps[0].output.text }}"}}}


def _workflow(stack, *steps) -> dict:
    return stack.create_workflow(goal="Weekly news", schedule="* * * * *", overlap="supersede", steps=list(steps))


def _tick(stack, workflow_id: str) -> dict:
    """The next minute's tick, delivered as QStash delivers it (signed, its own message id)."""
    stack.clock.advance(minutes=1)
    reply = stack.deliver("/api/workflows/trigger", {"workflowId": workflow_id})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_tick_supersedes_the_run_waiting_for_approval_and_starts_a_new_one(stack, recorder):
    workflow = _workflow(stack, NEWS, _hook(recorder), compose("after"))
    first = _tick(stack, workflow["id"])
    assert first["status"] == "started"
    stale = stack.wait_approval(first["runId"])

    second = _tick(stack, workflow["id"])
    assert second["status"] == "superseded"
    old = stack.run(first["runId"])
    assert old["status"] == "superseded" and old["supersededBy"] == second["runId"]
    assert [s["status"] for s in old["steps"]] == ["completed", "cancelled", "skipped"]
    assert old["approvals"][0]["status"] == "superseded" and old["finishedAt"] is not None
    assert old["error"].startswith("superseded by the run of ")

    fresh = stack.wait_approval(second["runId"])  # the new run proposes its own, fresh content
    assert fresh["proposedInput"]["json"] == {"text": f"news of {second['runId']}"}
    late = stack.decide(stale["id"], decision="approve")
    assert late.status_code == 409
    assert "superseded by the run of" in late.json()["error"] and f"(run #{second['runId']})" in late.json()["error"]
    expiry = stack.deliver("/api/approvals/expire", {"approvalId": stale["id"]})
    assert expiry.json()["status"] == "already decided"

    assert stack.decide(fresh["id"], decision="approve").status_code == 200
    assert stack.wait_run(second["runId"])["status"] == "completed"
    (hook,) = recorder.received("/hook")  # only the fresh content went out
    assert f"news of {second['runId']}" in hook.text()


def test_a_run_executing_a_step_is_left_alone(stack, recorder):
    recorder.respond("/slow", delay=1.0)
    workflow = _workflow(stack, http_step(recorder.url + "/slow"), compose("done"))
    first = _tick(stack, workflow["id"])
    recorder.wait_for(1, path="/slow")  # the step is executing now
    second = _tick(stack, workflow["id"])
    assert second["status"] == "skipped"
    assert stack.run(second["runId"])["status"] == "skipped"
    assert stack.wait_run(first["runId"])["status"] == "completed"


def test_a_decision_before_the_tick_wins_and_the_tick_skips(stack, recorder):
    workflow = _workflow(stack, NEWS, _hook(recorder))
    first = _tick(stack, workflow["id"])
    approval = stack.wait_approval(first["runId"])
    assert stack.decide(approval["id"], decision="approve").status_code == 200
    second = _tick(stack, workflow["id"])
    # The approved run is resuming or done: either way nothing waits for approval any more.
    assert second["status"] in {"skipped", "started"}
    assert stack.wait_run(first["runId"])["status"] == "completed"
    assert stack.run(first["runId"])["approvals"][0]["status"] == "approved"
    assert len(recorder.received("/hook")) == 1


def test_other_policies_never_supersede(stack, recorder):
    workflow = stack.create_workflow(goal="Skip", schedule="* * * * *", steps=[NEWS, _hook(recorder)])
    first = _tick(stack, workflow["id"])
    stack.wait_approval(first["runId"])
    assert _tick(stack, workflow["id"])["status"] == "skipped"
    assert stack.run(first["runId"])["status"] == "awaiting_approval"


def test_supersede_is_accepted_by_the_api_and_a_typo_is_named(stack):
    workflow = stack.create_workflow(goal="Policy", schedule="0 9 * * 1", overlap="supersede", steps=[NEWS])
    assert workflow["overlap"] == "supersede"
    bad = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"overlap": "supercede"})
    assert bad.status_code == 422 and bad.json() == {
        "error": "overlap must be skip, queue, allow or supersede", "field": "overlap"}


# How long the decisions wait after the barrier, round by round: at 0 they usually win, by a few
# milliseconds the tick usually does; in between, either. Whoever wins, exactly one may.
LAGS = (0, 0.001, 0, 0.003, 0, 0.006, 0, 0.012)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_racing_the_tick_exactly_one_wins(stack, recorder, decision):
    """Each round: an approval waits; a tick and two decisions arrive together over HTTP, each on
    its own thread. Exactly one of them takes the approval: a decision (200) or the tick
    (`superseded`), never both, and the database agrees with whoever won."""
    workflow = _workflow(stack, NEWS, _hook(recorder))
    wins = {"decision": 0, "tick": 0}
    approved_runs = []
    waiting = _tick(stack, workflow["id"])["runId"]
    for lag in LAGS:
        approval = stack.wait_approval(waiting)
        stack.clock.advance(minutes=1)
        barrier = threading.Barrier(3)

        def decide(_: int) -> int:
            barrier.wait()
            time.sleep(lag)
            return stack.decide(approval["id"], decision=decision).status_code

        def tick() -> dict:
            barrier.wait()
            return stack.deliver("/api/workflows/trigger", {"workflowId": workflow["id"]}).json()

        with ThreadPoolExecutor(max_workers=3) as pool:
            ticked = pool.submit(tick)
            codes = list(pool.map(decide, range(2)))
            tick_reply = ticked.result()
        superseded = tick_reply["status"] == "superseded"
        assert codes.count(200) + superseded == 1, (codes, tick_reply)
        assert set(codes) <= {200, 409}
        run = stack.run(waiting)
        if superseded:
            wins["tick"] += 1
            assert run["status"] == "superseded" and run["approvals"][-1]["status"] == "superseded"
            waiting = tick_reply["runId"]
        else:
            wins["decision"] += 1
            assert run["approvals"][-1]["status"] == ("approved" if decision == "approve" else "rejected")
            assert run["supersededBy"] is None
            if decision == "approve":
                approved_runs.append(waiting)
            ended = stack.wait_run(waiting)
            assert ended["status"] == ("completed" if decision == "approve" else "rejected")
            # The tick found the run still there (skipped) or already over (started).
            waiting = tick_reply["runId"] if tick_reply["status"] == "started" else _tick(stack, workflow["id"])["runId"]
    print(f"{decision} against the tick, wins: {wins}")
    assert sum(wins.values()) == len(LAGS)
    for run_id in approved_runs:
        stack.wait_run(run_id, "completed")
    assert len(recorder.received("/hook")) == len(approved_runs)  # each winning approval posted once


def test_many_ticks_and_decisions_at_once_have_one_winner(app, services):
    """In the domain, without HTTP in between: four ticks (each its own minute) and four decisions
    on eight threads against one waiting approval. One of the eight takes it."""
    with app.app_context():
        accounts.create_user("race@example.com", "correct-horse-1")
        approval_id, run_id, workflow_id = seed("race@example.com", "http_request")
        db.session.execute(sa.update(Workflow).where(Workflow.id == workflow_id).values(
            schedule="* * * * *", overlap=Overlap.SUPERSEDE, active_run_id=run_id))
        db.session.commit()
    base = utcnow().replace(second=0, microsecond=0)
    barrier = threading.Barrier(8, timeout=30)
    results: list[str] = []

    def tick(n: int) -> None:
        with app.app_context():
            barrier.wait()
            results.append(runs.start_scheduled(services, workflow_id, f"msg_race_{n}", base + timedelta(minutes=n))[1])

    def decide(n: int) -> None:
        with app.app_context():
            approval = db.session.get(Approval, approval_id)
            db.session.commit()  # outside a request every transaction is IMMEDIATE: don't hold the lock
            barrier.wait()
            try:
                approvals.decide(services, approval, "approve" if n % 2 else "reject", decided_by="race@example.com",
                                 channel=Channel.API)
                results.append("decided")
            except Conflict:
                results.append("conflict")

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=decide, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8
    assert results.count("decided") + results.count("superseded") == 1, results
    with app.app_context():
        approval = db.session.get(Approval, approval_id)
        run = db.session.get(Run, run_id)
        if "superseded" in results:
            assert approval.status == ApprovalStatus.SUPERSEDED and run.status == RunStatus.SUPERSEDED
            assert run.superseded_by_id is not None
        else:
            assert approval.status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED)
            assert run.superseded_by_id is None
