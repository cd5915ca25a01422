"""Retry from the failed step, end to end: the app, qstash_dev and real HTTP destinations.

Completed steps keep their outputs, the failed step gets a fresh attempt with a dedup id of its
own, the run goes on; a LinkedIn post whose outcome is unknown needs the owner's word first.
"""
from __future__ import annotations

import sqlalchemy as sa

from extensions import db
from models import Outbox, PendingPublish
from tests.engine.conftest import compose
from workflows.integrations import linkedin


def _workflow(stack, recorder) -> dict:
    return stack.create_workflow(goal="Tell the hook", steps=[
        compose("Ship it"),
        {"toolName": "http_request", "toolInput": {"url": recorder.url + "/hook", "json": {"text": "{{ steps[0].output.text }}"}},
         "needsApproval": False},
        compose("Status {{ steps[1].output.status }}"),
    ])


def _dedup_ids(stack, run_id: int) -> list[str]:
    with stack.db():
        return list(db.session.scalars(sa.select(PendingPublish.dedup_id).where(PendingPublish.run_id == run_id)
                                       .order_by(PendingPublish.id)))


def test_a_failed_run_is_retried_from_its_failed_step(stack, recorder):
    recorder.respond("/hook", status=400, body=b'{"error": "channel archived"}', times=2)
    workflow = _workflow(stack, recorder)
    run_id = stack.run_now(workflow["id"])
    failed = stack.wait_run(run_id)
    assert failed["status"] == "failed"
    assert [s["status"] for s in failed["steps"]] == ["completed", "failed", "skipped"]
    first_output = failed["steps"][0]["output"]

    retried = stack.api("POST", f"/api/runs/{run_id}/retry")  # no body at all
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "running" and retried.json()["error"] is None
    assert stack.wait_run(run_id)["status"] == "failed"  # the hook still refuses: failed again
    assert _dedup_ids(stack, run_id)[-1] == f"wf-{workflow['id']}-run-{run_id}-step-1-retry-1"

    assert stack.api("POST", f"/api/runs/{run_id}/retry", json={}).status_code == 202
    run = stack.wait_run(run_id)
    assert run["status"] == "completed", run
    assert [s["attempts"] for s in run["steps"]] == [1, 3, 1]  # the failed step's attempts are kept
    assert run["steps"][0]["output"] == first_output and run["steps"][2]["output"] == {"text": "Status 200"}
    assert [r.text() for r in recorder.requests] == ['{"text": "Ship it"}'] * 3
    assert _dedup_ids(stack, run_id)[-2:] == [f"wf-{workflow['id']}-run-{run_id}-step-1-retry-2",
                                              f"wf-{workflow['id']}-run-{run_id}-step-2"]
    with stack.db():  # each failure is news: one email per try
        keys = db.session.scalars(sa.select(Outbox.dedup_key).where(Outbox.dedup_key.like(f"run-{run_id}-failed%")))
        assert sorted(keys) == [f"run-{run_id}-failed", f"run-{run_id}-failed-retry-1"]

    again = stack.api("POST", f"/api/runs/{run_id}/retry")
    assert again.status_code == 409 and again.json()["error"] == f"run {run_id} is completed; only a failed run can be retried"


def test_retry_checks_its_body_and_the_runs_owner(stack, recorder):
    recorder.respond("/hook", status=400)
    run_id = stack.run_now(_workflow(stack, recorder)["id"])
    stack.wait_run(run_id)
    bad = stack.api("POST", f"/api/runs/{run_id}/retry", json={"confirmedOutcome": "yes"})
    assert bad.status_code == 400 and bad.json() == {"error": "confirmedOutcome must be true or false",
                                                     "field": "confirmedOutcome"}
    not_json = stack.api("POST", f"/api/runs/{run_id}/retry", content=b"yes", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 400
    assert stack.api("POST", "/api/runs/999999/retry").status_code == 404
    assert stack.run(run_id)["status"] == "failed"  # nothing changed


def test_a_linkedin_post_of_unknown_outcome_is_retried_only_once_checked(make_stack, standin):
    stack = make_stack(LINKEDIN_API_BASE=standin.api_base, LINKEDIN_AUTH_BASE=standin.auth_base)
    with stack.db():
        linkedin.save_credential(stack.user_id, standin.issue_token(), standin.member_id, None, "Ada",
                                 stack.app.config["SECRET_KEY"])
    standin.fail_posts(500, "upstream timeout")
    workflow = stack.create_workflow(goal="Post", steps=[
        {"toolName": "linkedin_post", "toolInput": {"text": "Hello, network"}, "needsApproval": False}])
    run_id = stack.run_now(workflow["id"])
    assert stack.wait_run(run_id)["status"] == "failed"

    refused = stack.api("POST", f"/api/runs/{run_id}/retry")
    assert refused.status_code == 409 and refused.json()["field"] == "confirmedOutcome"
    assert "Check LinkedIn" in refused.json()["error"]
    assert stack.run(run_id)["status"] == "failed"

    assert stack.api("POST", f"/api/runs/{run_id}/retry", json={"confirmedOutcome": True}).status_code == 202
    run = stack.wait_run(run_id)
    assert run["status"] == "completed", run
    assert len(standin.posts) == 1 and run["steps"][0]["attempts"] == 2
