"""Runs: cancel in every step state, retries exhausted, sinceLastRun, user isolation."""
from __future__ import annotations

import sqlalchemy as sa

from extensions import db
from models import Outbox, PendingPublish
from tests.conftest import create_user_with_token
from tests.engine.conftest import compose, http_step
from tests.support.waiting import eventually


def test_cancel_a_pending_run(stack):
    workflow = stack.create_workflow(goal="Pending", steps=[compose("a"), compose("b")])
    with stack.queue_unreachable():  # step 0 not delivered yet: every step is pending
        run_id = stack.run_now(workflow["id"])
    response = stack.api("POST", f"/api/runs/{run_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert [s["status"] for s in response.json()["steps"]] == ["cancelled", "cancelled"]
    with stack.db():  # the late first message arrives anyway: nothing happens
        body = db.session.scalar(sa.select(PendingPublish.body))
    reply = stack.deliver("/api/workflows/step", body)
    assert reply.status_code == 200
    assert stack.run(run_id)["steps"][0]["status"] == "cancelled"


def test_cancel_while_a_step_runs_records_its_result_and_publishes_nothing_after(stack, recorder):
    recorder.respond("/slow", delay=1.0)
    workflow = stack.create_workflow(goal="Slow", steps=[http_step(recorder.url + "/slow"), compose("after")])
    run_id = stack.run_now(workflow["id"])
    recorder.wait_for(1, path="/slow")
    response = stack.api("POST", f"/api/runs/{run_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    # The step's completion commit is where a next step's message would have been written.
    run = eventually(lambda: stack.run(run_id), until=lambda run: run["steps"][0]["status"] != "running",
                     what="the running step to finish")
    assert run["status"] == "cancelled"
    assert run["steps"][0]["status"] == "completed" and run["steps"][0]["output"]["status"] == 200
    assert run["steps"][1]["status"] == "cancelled"
    with stack.db():
        dedups = db.session.scalars(sa.select(PendingPublish.dedup_id)).all()
    assert not any(d.endswith("-step-1") for d in dedups)


def test_cancel_while_awaiting_approval_cancels_the_approval(stack, recorder):
    workflow = stack.create_workflow(goal="Approve me", steps=[
        {"toolName": "http_request", "toolInput": {"url": recorder.url + "/hook"}}])
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    run = stack.api("POST", f"/api/runs/{run_id}/cancel").json()
    assert run["status"] == "cancelled" and run["steps"][0]["status"] == "cancelled"
    assert run["approvals"][0]["status"] == "cancelled"
    assert stack.decide(approval["id"], decision="approve").status_code == 409


def test_cancel_a_finished_run_is_409(stack):
    workflow = stack.create_workflow(goal="Done", steps=[compose("a")])
    run_id = stack.run_now(workflow["id"])
    stack.wait_run(run_id)
    response = stack.api("POST", f"/api/runs/{run_id}/cancel")
    assert response.status_code == 409 and "already finished" in response.json()["error"]


def test_retries_exhausted_fail_the_run_and_email_the_owner(make_stack, recorder):
    stack = make_stack(STEP_RETRIES=1)
    recorder.respond("/down", status=503)
    workflow = stack.create_workflow(goal="Flaky hook", steps=[http_step(recorder.url + "/down"), compose("x")])
    run_id = stack.run_now(workflow["id"])
    run = stack.wait_run(run_id, "failed", timeout=40)
    assert run["steps"][0]["status"] == "failed" and run["steps"][1]["status"] == "skipped"
    assert "gave up after" in run["steps"][0]["error"]
    assert len(recorder.received("/down")) == 2  # the first attempt and one retry
    with stack.db():
        email = db.session.scalar(sa.select(Outbox).where(Outbox.dedup_key == f"run-{run_id}-failed"))
        assert email.to == "owner@example.com" and "Flaky hook" in email.subject


def test_a_late_failure_callback_leaves_the_retried_step_alone(make_stack, recorder):
    """QStash gave up on the step's first message; the owner retried; the first message's failure
    callback arrives again (a redelivery) while the retry's attempt runs: it must not fail it."""
    import base64
    import json

    stack = make_stack(STEP_RETRIES=1)
    recorder.respond("/flaky", status=503, times=2)  # the first message: an attempt and one retry
    recorder.respond("/flaky", status=200, delay=2)  # the retry's attempt, still running when the callback comes
    workflow = stack.create_workflow(goal="Flaky hook", steps=[http_step(recorder.url + "/flaky"), compose("x")])
    run_id = stack.run_now(workflow["id"])
    failed = stack.wait_run(run_id, "failed", timeout=40)
    with stack.db():
        first = db.session.scalar(sa.select(PendingPublish).where(
            PendingPublish.dedup_id == f"wf-{workflow['id']}-run-{run_id}-step-0"))
        first_message_id, first_body = first.message_id, first.body
    assert first_message_id and "gave up after" in failed["steps"][0]["error"]

    assert stack.api("POST", f"/api/runs/{run_id}/retry").status_code == 202
    eventually(lambda: len(recorder.received("/flaky")) == 3, what="the retried attempt reaches the hook")
    reply = stack.deliver("/api/workflows/failed", {
        "status": 503, "retried": 1, "maxRetries": 1, "sourceMessageId": first_message_id,
        "body": base64.b64encode(b"").decode(),
        "sourceBody": base64.b64encode(json.dumps(first_body).encode()).decode()})
    assert reply.status_code == 200 and "later message" in reply.text

    run = stack.wait_run(run_id, timeout=40)
    assert run["status"] == "completed", run
    assert [s["status"] for s in run["steps"]] == ["completed", "completed"]


def test_failure_callback_leaves_a_completed_step_alone(stack):
    import base64
    import json

    workflow = stack.create_workflow(goal="Fine", steps=[compose("a")])
    run_id = stack.run_now(workflow["id"])
    run = stack.wait_run(run_id)
    source = {"workflowId": workflow["id"], "runId": run_id, "conversationId": run["conversationId"], "stepIndex": 0}
    reply = stack.deliver("/api/workflows/failed", {
        "status": 500, "retried": 3, "maxRetries": 3, "body": base64.b64encode(b"boom").decode(),
        "sourceBody": base64.b64encode(json.dumps(source).encode()).decode()})
    assert reply.status_code == 200
    assert stack.run(run_id)["status"] == "completed"


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>AI</title>{items}</channel></rss>"""
ITEM = "<item><title>{t}</title><link>https://news.example/{t}</link><description>{t}</description></item>"


def test_since_last_run_skips_items_of_the_previous_run(stack, recorder):
    recorder.respond("/feed.xml", body=FEED.format(items=ITEM.format(t="a") + ITEM.format(t="b")),
                     headers={"Content-Type": "application/rss+xml"}, times=1)
    recorder.respond("/feed.xml", body=FEED.format(items="".join(ITEM.format(t=t) for t in "cab")),
                     headers={"Content-Type": "application/rss+xml"})
    workflow = stack.create_workflow(goal="Digest", steps=[
        {"toolName": "fetch_feed", "toolInput": {"url": recorder.url + "/feed.xml", "sinceLastRun": True}}])
    first = stack.wait_run(stack.run_now(workflow["id"]))
    assert [i["title"] for i in first["steps"][0]["output"]["items"]] == ["a", "b"]
    second = stack.wait_run(stack.run_now(workflow["id"]))
    assert [i["title"] for i in second["steps"][0]["output"]["items"]] == ["c"]


def test_another_users_objects_are_404_everywhere(stack, recorder):
    workflow = stack.create_workflow(goal="Mine", steps=[
        {"toolName": "http_request", "toolInput": {"url": recorder.url + "/hook"}}])
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    _, other = create_user_with_token(stack.app, "intruder@example.com")
    wid = workflow["id"]
    attempts = [
        ("GET", f"/api/workflows/{wid}", None), ("PATCH", f"/api/workflows/{wid}", {"goal": "x"}),
        ("DELETE", f"/api/workflows/{wid}", None), ("POST", f"/api/workflows/{wid}/runs", None),
        ("GET", f"/api/workflows/{wid}/runs", None), ("GET", f"/api/runs/{run_id}", None),
        ("POST", f"/api/runs/{run_id}/cancel", None),
        ("POST", f"/api/approvals/{approval['id']}", {"decision": "approve"}),
    ]
    for method, path, body in attempts:
        response = stack.api(method, path, token=other, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "not found" in response.json()["error"]
    assert stack.api("GET", "/api/workflows", token=other).json()["items"] == []
    assert stack.api("GET", "/api/approvals", token=other).json()["items"] == []
    assert stack.run(run_id)["status"] == "awaiting_approval"  # untouched


def test_runs_list_paginates_and_filters(stack):
    workflow = stack.create_workflow(goal="Many", steps=[compose("a")])
    ids = [stack.run_now(workflow["id"]) for _ in range(3)]
    for run_id in ids:
        stack.wait_run(run_id)
    page = stack.api("GET", f"/api/workflows/{workflow['id']}/runs?limit=2").json()
    assert [r["id"] for r in page["items"]] == ids[::-1][:2] and page["nextCursor"]
    rest = stack.api("GET", f"/api/workflows/{workflow['id']}/runs?limit=2&cursor={page['nextCursor']}").json()
    assert [r["id"] for r in rest["items"]] == [ids[0]] and rest["nextCursor"] is None
    completed = stack.api("GET", f"/api/workflows/{workflow['id']}/runs?status=completed").json()["items"]
    assert len(completed) == 3
    assert stack.api("GET", f"/api/workflows/{workflow['id']}/runs?status=failed").json()["items"] == []
    assert stack.api("GET", f"/api/workflows/{workflow['id']}/runs?limit=0").status_code == 400
    assert stack.api("GET", f"/api/workflows/{workflow['id']}/runs?cursor=zzz").status_code == 400
