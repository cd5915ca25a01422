"""Retry from the failed step, end to end: the app, qstash_dev and real HTTP destinations.

Completed steps keep their outputs, the failed step gets a fresh attempt with a dedup id of its
own, the run goes on; a LinkedIn post whose outcome is unknown needs the owner's word first.
"""
from __future__ import annotations

import json
import re

import sqlalchemy as sa
from qstash import QStash

from config import Settings
from extensions import db
from models import Outbox, PendingPublish
from tests.conftest import AuthActions, csrf_from
from tests.engine.conftest import compose
from tests.support.qstash_server import free_port
from tests.support.waiting import eventually
from workflows.engine.queue_client import QStashQueue
from workflows.integrations import linkedin

HTMX = {"HX-Request": "true"}


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
    # The reply is the run as it is once the retry's message is on its way: still running, or,
    # on a fast machine, already failed again by the retried step itself.
    assert retried.json()["id"] == run_id and retried.json()["status"] in ("running", "failed")
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


def _failed_linkedin_run(make_stack, standin, status: int, message: str):
    """A connected owner whose one-step LinkedIn run failed on LinkedIn's `status`: (stack, run)."""
    stack = make_stack(LINKEDIN_API_BASE=standin.api_base, LINKEDIN_AUTH_BASE=standin.auth_base)
    with stack.db():
        linkedin.save_credential(stack.user_id, standin.issue_token(), standin.member_id, None, "Ada",
                                 stack.app.config["SECRET_KEY"])
    standin.fail_posts(status, message)
    workflow = stack.create_workflow(goal="Post", steps=[
        {"toolName": "linkedin_post", "toolInput": {"text": "Hello, network"}, "needsApproval": False}])
    run = stack.wait_run(stack.run_now(workflow["id"]))
    assert run["status"] == "failed", run
    return stack, run


def test_a_linkedin_post_of_unknown_outcome_is_retried_only_once_checked(make_stack, standin):
    stack, failed = _failed_linkedin_run(make_stack, standin, 500, "upstream timeout")
    run_id = failed["id"]

    refused = stack.api("POST", f"/api/runs/{run_id}/retry")
    assert refused.status_code == 409 and refused.json()["field"] == "confirmedOutcome"
    assert "Check LinkedIn" in refused.json()["error"]
    assert stack.run(run_id)["status"] == "failed"

    assert stack.api("POST", f"/api/runs/{run_id}/retry", json={"confirmedOutcome": True}).status_code == 202
    run = stack.wait_run(run_id)
    assert run["status"] == "completed", run
    assert len(standin.posts) == 1 and run["steps"][0]["attempts"] == 2


def test_a_linkedin_post_linkedin_refused_is_retried_without_asking(make_stack, standin):
    stack, failed = _failed_linkedin_run(make_stack, standin, 422, "Content is a duplicate")
    run_id = failed["id"]
    assert "LinkedIn refused the post (HTTP 422)" in failed["steps"][0]["error"]

    retried = stack.api("POST", f"/api/runs/{run_id}/retry")  # no confirmedOutcome: nothing was posted
    assert retried.status_code == 202, retried.text
    run = stack.wait_run(run_id)
    assert run["status"] == "completed", run
    assert len(standin.posts) == 1 and run["steps"][0]["attempts"] == 2


def _session(stack):
    """A test client of the served app, logged in as the stack's owner through the form."""
    client = stack.app.test_client()
    assert AuthActions(client).login("owner@example.com").status_code == 302
    return client


def _dlq(stack) -> dict[str, int]:
    """QStash's DLQ as the SDK lists it: dlq id -> the run its step message names."""
    messages = QStash(stack.qstash.token, base_url=stack.qstash.url).dlq.list().messages
    return {m.dlq_id: json.loads(m.body)["runId"] for m in messages}


def test_undeliverable_step_messages_from_qstashs_dlq_are_retried_and_discarded(make_stack, recorder):
    stack = make_stack(STEP_RETRIES=0)  # QStash gives up after the first 503
    recorder.respond("/hook", status=503, times=1)
    recorder.respond("/other", status=503, times=1)
    workflow = _workflow(stack, recorder)
    other = stack.create_workflow(goal="Other hook", steps=[
        {"toolName": "http_request", "toolInput": {"url": recorder.url + "/other", "json": {}}, "needsApproval": False}])
    run_id, other_run = stack.run_now(workflow["id"]), stack.run_now(other["id"])
    assert stack.wait_run(run_id)["status"] == stack.wait_run(other_run)["status"] == "failed"
    dead = eventually(lambda: _dlq(stack), until=lambda found: len(found) == 2, what="both messages in the DLQ")
    mine = next(dlq_id for dlq_id, run in dead.items() if run == run_id)
    theirs = next(dlq_id for dlq_id, run in dead.items() if run == other_run)

    client = _session(stack)
    section = client.get(f"/workflows/{workflow['id']}/undeliverable", headers=HTMX).get_data(as_text=True)
    assert re.findall(r'<tr id="dlq-([^"]+)">', section) == [mine]  # only this workflow's
    assert "503" in section and ">Retry<" in section
    token = csrf_from(client.get(f"/workflows/{workflow['id']}").get_data(as_text=True))
    retried = client.post(f"/workflows/{workflow['id']}/undeliverable/{mine}/retry", headers=HTMX,
                          data={"csrf_token": token}).get_data(as_text=True)
    assert f"Run #{run_id} runs again from step 2." in retried
    assert stack.wait_run(run_id)["status"] == "completed"
    assert mine not in _dlq(stack)

    discarded = client.post(f"/workflows/{other['id']}/undeliverable/{theirs}/discard", headers=HTMX,
                            data={"csrf_token": token}).get_data(as_text=True)
    assert "Discarded the message." in discarded and _dlq(stack) == {}
    assert stack.run(other_run)["status"] == "failed"  # discarding leaves the run as it was


def test_the_workflow_page_stands_when_qstash_is_down(stack):
    workflow = stack.create_workflow(goal="Still here", steps=[compose("x")])
    client = _session(stack)
    stack.services.queue = QStashQueue(Settings(qstash_url=f"http://127.0.0.1:{free_port()}"))
    assert client.get(f"/workflows/{workflow['id']}").status_code == 200
    section = client.get(f"/workflows/{workflow['id']}/undeliverable", headers=HTMX).get_data(as_text=True)
    assert "Undeliverable messages could not be loaded: QStash at http://127.0.0.1:" in section
