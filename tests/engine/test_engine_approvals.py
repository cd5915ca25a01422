"""Approvals end to end: approve, edit, reject, revise, expiry, first decision wins."""
from __future__ import annotations

import sqlalchemy as sa

from extensions import db
from models import Outbox
from tests.engine.conftest import compose

HOOK_INPUT = {"url": "{recorder}/hook", "json": {"text": "{{ steps[0].output.text }}"}}


def _webhook_workflow(stack, recorder, **extra):
    return stack.create_workflow(goal="Announce the news", steps=[
        compose("news of the day"),
        {"toolName": "http_request", "toolInput": {"url": recorder.url + "/hook",
                                                   "json": {"text": "{{ steps[0].output.text }}"}}, **extra},
        compose("done: {{ steps[1].output.status }}"),
    ])


def test_step_that_needs_approval_pauses_and_approve_resumes_within_the_dedup_window(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    assert workflow["steps"][1]["needsApproval"] is True  # the tool's policy
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    assert approval["proposedInput"] == {"url": recorder.url + "/hook", "json": {"text": "news of the day"}}
    run = stack.run(run_id)
    assert run["status"] == "awaiting_approval" and run["steps"][1]["status"] == "awaiting_approval"
    assert recorder.received("/hook") == []  # the tool did not run
    with stack.db():
        email = db.session.scalar(sa.select(Outbox).where(Outbox.dedup_key == f"approval-{approval['id']}-request"))
        assert email.to == "owner@example.com" and "news of the day" in email.text

    # Well inside qstash_dev's 600 s window: the resume must not be swallowed as a duplicate.
    response = stack.decide(approval["id"], decision="approve")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["decidedBy"] == "owner@example.com" and response.json()["channel"] == "api"
    run = stack.wait_run(run_id)
    assert run["status"] == "completed" and run["steps"][2]["output"] == {"text": "done: 200"}
    assert len(recorder.received("/hook")) == 1


def test_edit_before_approve_runs_the_edited_input(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    edited = {"url": recorder.url + "/hook", "json": {"text": "edited by a person"}}
    response = stack.decide(approval["id"], decision="approve", toolInput=edited)
    assert response.json()["decidedInput"] == edited
    assert stack.wait_run(run_id)["status"] == "completed"
    (hook,) = recorder.received("/hook")
    assert "edited by a person" in hook.text()


def test_edited_input_is_validated_against_the_tool_schema(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    response = stack.decide(approval["id"], decision="approve", toolInput={"url": "ftp://nope"})
    assert response.status_code == 422 and response.json()["field"] == "toolInput.url"
    assert stack.run(run_id)["approvals"][0]["status"] == "pending"  # nothing changed


def test_reject_ends_the_run_and_skips_the_rest(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    assert stack.decide(approval["id"], decision="reject").status_code == 200
    run = stack.wait_run(run_id)
    assert run["status"] == "rejected"
    assert [s["status"] for s in run["steps"]] == ["completed", "rejected", "skipped"]
    stack.wait_delivered(run_id)  # whatever the decision published has been answered
    assert recorder.received("/hook") == []


def test_revise_proposes_again_with_the_feedback_recorded(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    run_id = stack.run_now(workflow["id"])
    first = stack.wait_approval(run_id)
    response = stack.decide(first["id"], decision="revise", feedback="Make it shorter")
    assert response.status_code == 200 and response.json()["status"] == "revise"
    second = stack.wait_approval(run_id)
    run = stack.run(run_id)
    assert len(run["approvals"]) == 2 and second["id"] != first["id"]
    assert run["approvals"][0]["feedback"] == "Make it shorter"
    assert stack.decide(second["id"], decision="approve").status_code == 200
    assert stack.wait_run(run_id)["status"] == "completed"
    assert len(recorder.received("/hook")) == 1


def test_revise_without_feedback_is_422(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    approval = stack.wait_approval(stack.run_now(workflow["id"]))
    response = stack.decide(approval["id"], decision="revise")
    assert response.status_code == 422 and response.json()["field"] == "feedback"


def test_first_decision_wins_and_the_second_is_409_naming_who_and_when(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    approval = stack.wait_approval(stack.run_now(workflow["id"]))
    assert stack.decide(approval["id"], decision="reject").status_code == 200
    second = stack.decide(approval["id"], decision="approve")
    assert second.status_code == 409
    assert "already rejected by owner@example.com at" in second.json()["error"]


def test_concurrent_decisions_have_exactly_one_winner(stack, recorder):
    from concurrent.futures import ThreadPoolExecutor

    workflow = _webhook_workflow(stack, recorder)
    approval = stack.wait_approval(stack.run_now(workflow["id"]))
    decisions = ["approve", "reject"] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda d: stack.decide(approval["id"], decision=d).status_code, decisions))
    assert sorted(codes) == [200, 409, 409, 409, 409, 409]


def test_unanswered_approval_expires_with_its_step_and_run(make_stack, recorder):
    stack = make_stack(APPROVAL_TTL_HOURS=1 / 3600)  # one second
    workflow = _webhook_workflow(stack, recorder)
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    run = stack.wait_run(run_id, "expired", timeout=30)
    assert [s["status"] for s in run["steps"]] == ["completed", "expired", "skipped"]
    assert run["approvals"][0]["status"] == "expired"
    late = stack.decide(approval["id"], decision="approve")
    assert late.status_code == 409 and "expired" in late.json()["error"]
    assert recorder.received("/hook") == []


def test_expiry_after_a_decision_changes_nothing(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    stack.decide(approval["id"], decision="approve")
    stack.wait_run(run_id)
    reply = stack.deliver("/api/approvals/expire", {"approvalId": approval["id"]})
    assert reply.status_code == 200 and reply.json()["status"] == "already decided"
    assert stack.run(run_id)["status"] == "completed"


def test_approvals_list_filters_by_status(stack, recorder):
    workflow = _webhook_workflow(stack, recorder)
    approval = stack.wait_approval(stack.run_now(workflow["id"]))
    pending = stack.api("GET", "/api/approvals?status=pending").json()
    assert [a["id"] for a in pending["items"]] == [approval["id"]] and pending["nextCursor"] is None
    assert stack.api("GET", "/api/approvals?status=approved").json()["items"] == []
    assert stack.api("GET", "/api/approvals?status=bogus").status_code == 422
