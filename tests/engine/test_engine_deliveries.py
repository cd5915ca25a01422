"""Duplicate and concurrent deliveries, signatures, and lost publishes, over real HTTP."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from extensions import db
from models import Approval, Outbox, PendingPublish, Run, RunStep
from tests.conftest import csrf_from
from tests.engine.conftest import compose, http_step
from tests.support.signing import sign


def _step_message(stack, run_id: int, index: int) -> dict:
    with stack.db():
        run = db.session.get(Run, run_id)
        return {"workflowId": run.workflow_id, "runId": run.id,
                "conversationId": run.conversation_id, "stepIndex": index}


def _run_without_publishing(stack, workflow_id: str) -> int:
    """Create a run whose step-0 message is held back, so the test delivers it itself."""
    with stack.queue_unreachable():
        run_id = stack.run_now(workflow_id)
    with stack.db():
        db.session.execute(sa.delete(PendingPublish))
        db.session.commit()
    return run_id


def test_same_step_delivered_twice_and_eight_times_concurrently_runs_once(stack, recorder):
    recorder.respond("/hook", delay=0.3)
    workflow = stack.create_workflow(goal="Webhook once", steps=[http_step(recorder.url + "/hook")])
    run_id = _run_without_publishing(stack, workflow["id"])
    body = _step_message(stack, run_id, 0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: stack.deliver("/api/workflows/step", body), range(8)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}, statuses
    again = stack.deliver("/api/workflows/step", body)
    assert again.status_code == 200 and again.json()["status"] == "already completed"

    hooks = recorder.received("/hook")
    assert len(hooks) == 1, "the side effect happened more than once"
    assert {h.header("Idempotency-Key") for h in hooks} == {f"wf-{workflow['id']}-run-{run_id}-step-0"}
    assert stack.run(run_id)["status"] == "completed"


def test_publish_lost_after_commit_is_recovered_by_redelivery(stack):
    workflow = stack.create_workflow(goal="Two composes", steps=[compose("a"), compose("b")])
    run_id = _run_without_publishing(stack, workflow["id"])
    body = _step_message(stack, run_id, 0)
    with stack.queue_unreachable():
        reply = stack.deliver("/api/workflows/step", body)
    assert reply.status_code == 503  # committed, but the next step's publish is still pending
    with stack.db():
        assert db.session.scalar(sa.select(sa.func.count()).where(PendingPublish.sent_at.is_(None))) == 1
    assert stack.deliver("/api/workflows/step", body).json()["status"] == "already completed"
    assert stack.wait_run(run_id)["status"] == "completed"


def test_publish_lost_after_commit_is_recovered_by_the_sweep(stack):
    workflow = stack.create_workflow(goal="Two composes", steps=[compose("a"), compose("b")])
    with stack.queue_unreachable():
        run_id = stack.run_now(workflow["id"])  # committed; its first message never reached QStash
    with stack.db():  # the publish was tried, and failed
        row = db.session.scalar(sa.select(PendingPublish).where(PendingPublish.run_id == run_id))
        assert (row.sent_at, row.attempts) == (None, 1) and "unreachable" in row.last_error
    assert stack.run(run_id)["status"] == "pending"
    stack.clock.advance(minutes=1)  # the sweep leaves rows younger than 30 s to their writer
    reply = stack.deliver("/api/maintenance/sweep", {})
    assert reply.status_code == 200 and reply.json()["published"] == 1
    assert stack.wait_run(run_id)["status"] == "completed"


CONSUMERS = ["/api/workflows/step", "/api/workflows/trigger", "/api/workflows/failed",
             "/api/approvals/expire", "/api/maintenance/sweep"]


def _bad_signatures(stack, path: str, raw: str) -> dict[str, dict[str, str]]:
    url = stack.url + path
    return {
        "missing": {},
        "forged": {"Upstash-Signature": sign(raw, url, key="sig_not_the_real_key")},
        "expired": {"Upstash-Signature": sign(raw, url, iat=int(time.time()) - 900,
                                               nbf=int(time.time()) - 900, exp=int(time.time()) - 600)},
        "wrong sub": {"Upstash-Signature": sign(raw, stack.url + "/api/other")},
        "changed body": {"Upstash-Signature": sign(raw + " ", url)},
        "garbage": {"Upstash-Signature": "not-a-jwt"},
    }


@pytest.mark.parametrize("path", CONSUMERS)
def test_signature_failures_are_401_and_store_nothing(stack, path):
    workflow = stack.create_workflow(goal="Sig", steps=[compose("a")])
    run_id = _run_without_publishing(stack, workflow["id"])
    bodies = {
        "/api/workflows/step": _step_message(stack, run_id, 0),
        "/api/workflows/trigger": {"workflowId": workflow["id"]},
        "/api/workflows/failed": {"sourceBody": "e30=", "status": 500},
        "/api/approvals/expire": {"approvalId": 1},
        "/api/maintenance/sweep": {},
    }
    raw = json.dumps(bodies[path])
    for kind, headers in _bad_signatures(stack, path, raw).items():
        reply = stack.http.post(stack.url + path, content=raw,
                                headers={"Content-Type": "application/json", **headers})
        assert reply.status_code == 401, (kind, reply.text)
        assert "signature" in reply.json()["error"]
    with stack.db():
        assert db.session.scalar(sa.select(sa.func.count(Run.id))) == 1
        step = db.session.scalar(sa.select(RunStep))
        assert step.status.value == "pending" and step.attempts == 0
        assert db.session.scalar(sa.select(sa.func.count(Outbox.id))) == 0
        assert db.session.scalar(sa.select(sa.func.count(Approval.id))) == 0


def test_consumers_need_no_csrf_but_forms_do(stack):
    """Signed consumers are exempt from CSRF; a cookie-authenticated JSON POST is not."""
    workflow = stack.create_workflow(goal="Csrf", steps=[compose("a")])
    reply = stack.deliver("/api/workflows/trigger", {"workflowId": workflow["id"]})
    assert reply.status_code == 200  # no CSRF token, accepted on its signature
    with stack.db():  # a real login session (its id names a session row)
        from models import User
        from workflows.integrations import accounts

        user = db.session.get(User, stack.user_id)
        accounts.start_session(user)
        session_id = user.get_id()
    with stack.app.test_client() as client:
        with client.session_transaction() as session:
            session["_user_id"] = session_id
            session["_fresh"] = True
        refused = client.post(f"/api/workflows/{workflow['id']}/runs")
        assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
        page = client.get("/settings").get_data(as_text=True)
        accepted = client.post(f"/api/workflows/{workflow['id']}/runs", headers={"X-CSRFToken": csrf_from(page)})
        assert accepted.status_code == 202


def test_bearer_post_needs_no_csrf_token(stack):
    response = stack.api("POST", "/api/workflows", json={"goal": "Bearer", "steps": [compose("x")]})
    assert response.status_code == 201
