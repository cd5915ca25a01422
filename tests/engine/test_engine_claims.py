"""The claim table (docs/architecture.md), state by state, calling the step handler directly.

The queue here is the in-memory double (tests/support/memory_queue.py; a unit test of the state
machine); the same paths run over real HTTP with qstash_dev in the other engine tests.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from extensions import db
from models import (
    Outbox,
    PendingPublish,
    Run,
    RunStatus,
    RunStep,
    StepStatus,
    User,
    utcnow,
)
from tests.conftest import create_user_with_token
from tests.support.memory_queue import MemoryQueue
from workflows.authoring import editing
from workflows.engine import delivery, runs
from workflows.engine.attempt import Attempt, ClaimedStep
from workflows.engine.outcomes import complete
from workflows.errors import RetryableToolError, ToolError
from workflows.ports import Services
from workflows.tools import REGISTRY
from workflows.tools.base import Delivery, Tool, ToolResult
from workflows.usage import Usage


FakeQueue = MemoryQueue  # its old name here, for tests that still import it


class Probe:
    """A tool whose behaviour each test sets, recording what it saw."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.in_transaction: list[bool] = []
        self.behaviour: Any = None

    def run(self, tool_input: dict[str, Any], ctx: Any) -> ToolResult:
        self.calls.append(tool_input)
        self.in_transaction.append(db.session().in_transaction())
        if isinstance(self.behaviour, Exception):
            raise self.behaviour
        return ToolResult(output={"echo": tool_input.get("value")})


@pytest.fixture
def probe(monkeypatch) -> Probe:
    probe = Probe()
    for name, guarantee in (("probe", Delivery.READ_ONLY), ("probe_once", Delivery.AT_MOST_ONCE)):
        tool = Tool(name=name, description="test probe", needs_approval=False, delivery=guarantee,
                    input_schema={"type": "object", "properties": {"value": {"type": "string"}},
                                  "additionalProperties": False},
                    run=probe.run)
        monkeypatch.setitem(REGISTRY, name, tool)
    return probe


def start(app, services: Services, tools: list[str] = ("probe", "probe")) -> tuple[int, str]:
    """A workflow of probe steps and one started run: (run id, workflow id)."""
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.email == "probe@example.com"))
    if user_id is None:
        user_id, _ = create_user_with_token(app, "probe@example.com")
    with app.app_context():
        workflow = editing.create_workflow(services, user_id, {
            "goal": "probe", "steps": [{"toolName": t, "toolInput": {"value": f"v{i}"}} for i, t in enumerate(tools)]})
        run = runs.start_now(services, workflow, runs.Trigger.API)
        return run.id, workflow.id


def message(app, run_id: int, index: int, **extra: Any) -> dict[str, Any]:
    with app.app_context():
        run = db.session.get(Run, run_id)
        return {"workflowId": run.workflow_id, "runId": run.id, "conversationId": run.conversation_id,
                "stepIndex": index, **extra}


def step_row(app, run_id: int, index: int) -> RunStep:
    with app.app_context():
        step = db.session.scalar(sa.select(RunStep).where(RunStep.run_id == run_id, RunStep.step_index == index))
        db.session.expunge(step)
        return step


def set_step(app, run_id: int, index: int, **values: Any) -> None:
    with app.app_context():
        db.session.execute(sa.update(RunStep).where(RunStep.run_id == run_id, RunStep.step_index == index)
                           .values(**values))
        db.session.commit()


def handle(app, services, body) -> delivery.Reply:
    with app.app_context():
        return delivery.handle_step(services, body)


def test_pending_step_runs_and_publishes_the_next(app, services, probe):
    run_id, wf = start(app, services)
    assert [m.dedup_id for m in services.queue.published] == [f"wf-{wf}-run-{run_id}-step-0"]
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and reply.body["status"] == "completed"
    step = step_row(app, run_id, 0)
    assert step.status == StepStatus.COMPLETED and step.attempts == 1 and step.output == {"echo": "v0"}
    assert step.claim_token is None
    assert services.queue.published[-1].dedup_id == f"wf-{wf}-run-{run_id}-step-1"
    assert services.queue.published[-1].failure_callback.endswith("/api/workflows/failed")
    assert probe.in_transaction == [False], "a transaction was open during the tool call"


def test_last_step_completes_the_run(app, services, probe):
    run_id, _ = start(app, services)
    handle(app, services, message(app, run_id, 0))
    handle(app, services, message(app, run_id, 1))
    with app.app_context():
        run = db.session.get(Run, run_id)
        assert run.status == RunStatus.COMPLETED and run.finished_at is not None
    assert len(services.queue.published) == 2  # step 0 and step 1, nothing after the last


def test_running_with_live_lease_is_409_with_retry_after(app, services, probe):
    run_id, _ = start(app, services)
    set_step(app, run_id, 0, status=StepStatus.RUNNING, claim_token="other",
             lease_expires_at=utcnow() + timedelta(seconds=40))
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 409
    assert 39 <= int(reply.headers["Retry-After"]) <= 41
    assert probe.calls == []


def test_expired_lease_is_taken_over_and_the_old_attempt_changes_nothing(app, services, probe):
    run_id, _ = start(app, services)
    set_step(app, run_id, 0, status=StepStatus.RUNNING, claim_token="old-token", attempts=1,
             lease_expires_at=utcnow() - timedelta(seconds=1))
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and step_row(app, run_id, 0).attempts == 2
    published = len(services.queue.published)
    with app.app_context():  # the old attempt finally reports back
        run = db.session.get(Run, run_id)
        step = db.session.scalar(sa.select(RunStep).where(RunStep.run_id == run_id, RunStep.step_index == 0))
        old = Attempt(run_id, step.id, 0, run.workflow_id, run.conversation_id, "old-token")
        claimed = ClaimedStep("probe", {"value": "v0"}, None, False, None, run.created_at, is_last=False)
        late = complete(services, old, claimed, {"value": "late"}, ToolResult({"echo": "late"}), Usage(), None)
    assert late.body["status"].startswith("claim lost")
    assert step_row(app, run_id, 0).output == {"echo": "v0"}
    assert len(services.queue.published) == published


def test_awaiting_approval_without_decision_does_nothing(app, services, probe):
    run_id, _ = start(app, services)
    set_step(app, run_id, 0, status=StepStatus.AWAITING_APPROVAL)
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and reply.body["status"] == "waiting for approval"
    assert probe.calls == [] and step_row(app, run_id, 0).attempts == 0


def test_completed_step_flushes_its_unsent_publishes(app, services, probe):
    run_id, wf = start(app, services)
    services.queue.unreachable = True  # the publish after the commit is lost
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 503  # so QStash redelivers
    assert step_row(app, run_id, 0).status == StepStatus.COMPLETED
    services.queue.unreachable = False
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and reply.body["status"] == "already completed"
    assert services.queue.published[-1].dedup_id == f"wf-{wf}-run-{run_id}-step-1"
    assert probe.calls == [{"value": "v0"}]  # the tool did not run again
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(PendingPublish.sent_at.is_(None))) == 0


@pytest.mark.parametrize("status", ["failed", "rejected", "skipped", "cancelled", "expired"])
def test_finished_step_states_do_nothing(app, services, probe, status):
    run_id, _ = start(app, services)
    set_step(app, run_id, 0, status=status)
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and probe.calls == []
    assert step_row(app, run_id, 0).status == status


def test_finished_run_does_nothing(app, services, probe):
    run_id, _ = start(app, services)
    with app.app_context():
        db.session.execute(sa.update(Run).where(Run.id == run_id).values(status=RunStatus.CANCELLED))
        db.session.commit()
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and probe.calls == []
    assert step_row(app, run_id, 0).status == StepStatus.PENDING


@pytest.mark.parametrize("change", [
    {"runId": 999999}, {"workflowId": "nope"}, {"conversationId": "conv_other"}, {"stepIndex": 7},
    {"runId": "1"}, {"stepIndex": None}, "not an object",
])
def test_payload_inconsistent_with_the_database_is_489(app, services, probe, change):
    run_id, _ = start(app, services)
    body = change if isinstance(change, str) else {**message(app, run_id, 0), **change}
    reply = handle(app, services, body)
    assert reply.status == 489 and reply.headers == {"Upstash-NonRetryable-Error": "true"}
    assert probe.calls == []


def test_retryable_error_releases_the_claim_and_answers_5xx(app, services, probe):
    run_id, _ = start(app, services)
    probe.behaviour = RetryableToolError("upstream timed out", retry_after=7)
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 503 and reply.headers["Retry-After"] == "7"
    step = step_row(app, run_id, 0)
    assert step.status == StepStatus.PENDING and step.error == "upstream timed out" and step.attempts == 1
    probe.behaviour = None
    assert handle(app, services, message(app, run_id, 0)).status == 200
    assert step_row(app, run_id, 0).attempts == 2


def test_error_a_retry_cannot_change_fails_step_and_run_at_once(app, services, probe):
    run_id, _ = start(app, services, ["probe", "probe", "probe"])
    probe.behaviour = ToolError("the webhook answered 404")
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and reply.body["status"] == "failed"
    with app.app_context():
        run = db.session.get(Run, run_id)
        assert run.status == RunStatus.FAILED and "404" in run.error
        assert [s.status for s in run.steps] == [StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.SKIPPED]
        email = db.session.scalar(sa.select(Outbox))
        assert email.dedup_key == f"run-{run_id}-failed" and "404" in email.text


def test_invalid_rendered_input_fails_the_step(app, services, probe):
    run_id, _ = start(app, services)
    set_step(app, run_id, 0, tool_input={"value": "{{ steps[5].output.x }}"})
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and reply.body["status"] == "failed"
    assert "toolInput.value" in step_row(app, run_id, 0).error


def test_at_most_once_takeover_after_the_effect_started_fails_outcome_unknown(app, services, probe):
    run_id, _ = start(app, services, ["probe_once"])
    set_step(app, run_id, 0, status=StepStatus.RUNNING, claim_token="crashed",
             lease_expires_at=utcnow() - timedelta(seconds=1), effect_started_at=utcnow() - timedelta(seconds=60))
    reply = handle(app, services, message(app, run_id, 0))
    assert reply.status == 200 and probe.calls == []
    step = step_row(app, run_id, 0)
    assert step.status == StepStatus.FAILED and step.error.startswith("outcome unknown")


def test_at_most_once_commits_effect_started_before_the_call(app, services, probe):
    run_id, _ = start(app, services, ["probe_once"])
    seen: list[Any] = []

    def check(tool_input, ctx):
        with app.app_context():
            seen.append(db.session.scalar(sa.select(RunStep.effect_started_at).where(
                RunStep.run_id == run_id, RunStep.step_index == 0)))
        return ToolResult({"ok": True})

    REGISTRY["probe_once"] = Tool(**{**REGISTRY["probe_once"].__dict__, "run": check})
    handle(app, services, message(app, run_id, 0))
    assert seen and seen[0] is not None


def test_a_short_run_completes_at_its_own_last_step_beside_a_longer_workflow(app, services, probe):
    long_run, _ = start(app, services, ["probe", "probe", "probe", "probe"])
    run_id, wf = start(app, services, ["probe", "probe"])
    handle(app, services, message(app, run_id, 0))
    assert handle(app, services, message(app, run_id, 1)).body["status"] == "completed"
    with app.app_context():
        assert db.session.get(Run, run_id).status == RunStatus.COMPLETED
    assert not any(m.dedup_id == f"wf-{wf}-run-{run_id}-step-2" for m in services.queue.published)
    with app.app_context():  # the longer run is untouched: it still waits for its first step
        assert db.session.get(Run, long_run).status == RunStatus.PENDING
