"""The attempt in hand: which step of which run, under which claim token, and what it needs.

`Attempt` carries ids only. Everything else a step may need (the goal, the owner's address,
earlier outputs, the latest approval) is read by the loaders below, and only by the steps that
need it: a `compose` step without references reads none of it. Statements are prebuilt once
(Core, with bind parameters) because building an ORM statement per call costs more than
running it (docs/architecture.md, *Cost of a step*).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Approval, Run, RunStep, User, Workflow

_steps, _runs, _approvals = RunStep.__table__, Run.__table__, Approval.__table__
_workflows, _users = Workflow.__table__, User.__table__


@dataclass(frozen=True)
class Attempt:
    """One attempt at one step. `token` is None for writers that hold no claim (the failure callback)."""

    run_id: int
    step_id: int
    step_index: int
    workflow_id: str
    conversation_id: str
    token: str | None

    @property
    def dedup_id(self) -> str:
        """The step message's deduplication id (contract): also the idempotency key of its effect."""
        return f"wf-{self.workflow_id}-run-{self.run_id}-step-{self.step_index}"


@dataclass(frozen=True)
class ClaimedStep:
    """The run's copy of the step, as the claim returned it."""

    tool_name: str
    tool_input: dict[str, Any]
    instruction: str | None
    needs_approval: bool
    effect_started_at: datetime | None
    run_started_at: datetime
    is_last: bool


@dataclass(frozen=True)
class Decision:
    """The step's latest approval, as far as the next attempt cares."""

    status: str
    decided_input: dict[str, Any] | None
    proposed_input: dict[str, Any]
    feedback: str | None


def connection() -> sa.Connection:
    """The session's connection: Core statements share its transaction, skipping the ORM."""
    return db.session.connection()


_EARLIER_OUTPUTS = (
    sa.select(_workflows.c.goal, _steps.c.step_index, _steps.c.output)
    .select_from(_workflows.outerjoin(_steps, sa.and_(
        _steps.c.run_id == sa.bindparam("run_id"), _steps.c.step_index < sa.bindparam("step_index"))))
    .where(_workflows.c.id == sa.bindparam("workflow_id"))
    .order_by(_steps.c.step_index)
)


def goal_and_outputs(attempt: Attempt) -> tuple[str, tuple[dict[str, Any], ...]]:
    """The workflow's goal and the outputs of the earlier steps, by index (one statement)."""
    rows = connection().execute(_EARLIER_OUTPUTS, {
        "run_id": attempt.run_id, "step_index": attempt.step_index, "workflow_id": attempt.workflow_id}).all()
    goal = rows[0].goal if rows else ""
    return goal, tuple((row.output or {}) for row in rows if row.step_index is not None)


_OWNER_ID = sa.select(_workflows.c.owner_id).where(_workflows.c.id == sa.bindparam("workflow_id"))


def owner_id(workflow_id: str) -> int:
    """The workflow's owner (the outbox rows a `send_email` step writes belong to them)."""
    return connection().execute(_OWNER_ID, {"workflow_id": workflow_id}).scalar_one()


_LATEST_APPROVAL = (
    sa.select(_approvals.c.status, _approvals.c.decided_input, _approvals.c.proposed_input,
              _approvals.c.feedback)
    .where(_approvals.c.run_step_id == sa.bindparam("step_id"))
    .order_by(_approvals.c.id.desc()).limit(1)
)


def latest_decision(attempt: Attempt) -> Decision | None:
    """The step's latest approval, or None; only steps that need approval have one."""
    row = connection().execute(_LATEST_APPROVAL, {"step_id": attempt.step_id}).first()
    if row is None:
        return None
    return Decision(row.status.value, row.decided_input, row.proposed_input, row.feedback)


_BY_STEP = (
    sa.select(_steps.c.id, _steps.c.tool_name, _runs.c.workflow_id, _runs.c.conversation_id)
    .select_from(_steps.join(_runs, _runs.c.id == _steps.c.run_id))
    .where(_steps.c.run_id == sa.bindparam("run_id"), _steps.c.step_index == sa.bindparam("step_index"))
)


def unclaimed(run_id: int, step_index: int) -> tuple[Attempt, str] | None:
    """An attempt without a claim on a step (the failure callback) and the step's tool; None if no such step."""
    row = connection().execute(_BY_STEP, {"run_id": run_id, "step_index": step_index}).first()
    if row is None:
        return None
    return Attempt(run_id, row.id, step_index, row.workflow_id, row.conversation_id, None), row.tool_name
