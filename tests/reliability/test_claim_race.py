"""A delivery whose claim loses a race must never be answered 200 while the step is unfinished:
QStash would drop the step's only message and the run would stay 'running' for ever.

The app-kill test found it on PostgreSQL: the claim saw a lease still alive (409 territory), the
re-read a moment later saw it expired, and the answer was 200 "nothing to do: step is running".
"""
from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from extensions import db
from models import RunStep, StepStatus, utcnow
from tests.conftest import bearer
from tests.engine.conftest import sign
from tests.reliability.figures import record
from tests.support.memory_queue import MemoryQueue

BASE = "http://127.0.0.1:5000"


class SteppingClock:
    """`first` for the first call (the claim), `later` for every call after it."""

    def __init__(self, first, later) -> None:  # type: ignore[no-untyped-def]
        self.first, self.later, self.calls = first, later, 0

    def __call__(self):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.first if self.calls == 1 else self.later


def test_a_claim_that_loses_a_race_with_a_lease_is_retried_not_dropped(app, client, api_user):
    app.extensions["stepwise"].queue = MemoryQueue()
    token = api_user[1]
    workflow = client.post("/api/workflows", headers=bearer(token), json={
        "goal": "race", "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}]}).get_json()
    run_id = client.post(f"/api/workflows/{workflow['id']}/runs", headers=bearer(token)).get_json()["runId"]
    lease = utcnow() + timedelta(seconds=30)
    with app.app_context():
        step = db.session.scalar(sa.select(RunStep).where(RunStep.run_id == run_id))
        conversation = step.run.conversation_id
        step.status, step.claim_token, step.lease_expires_at, step.attempts = StepStatus.RUNNING, "other", lease, 1
        db.session.commit()
    # The other attempt's lease is alive when the claim looks, and over when the answer is chosen.
    app.extensions["stepwise"].clock = SteppingClock(lease - timedelta(milliseconds=1),
                                                     lease + timedelta(milliseconds=1))
    body = json.dumps({"workflowId": workflow["id"], "runId": run_id, "conversationId": conversation, "stepIndex": 0})
    path = "/api/workflows/step"
    response = client.post(path, data=body, headers={"Upstash-Signature": sign(body, BASE + path),
                                                     "Content-Type": "application/json"})
    record("faults injected")
    assert response.status_code == 409, response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1
    record("faults survived")
