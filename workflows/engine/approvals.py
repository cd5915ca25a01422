"""Approvals (docs/architecture.md, *Approvals*): decide once, resume, expire.

The first decision wins through a conditional UPDATE on the approval's `pending` status; a
second decision finds no pending row and gets a 409 naming who decided and when.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from extensions import db
from models import (
    Approval,
    ApprovalStatus,
    Channel,
    Run,
    RunStatus,
    RunStep,
    StepStatus,
)
from workflows.engine import publishing, runs
from workflows.errors import Conflict, Invalid, Malformed
from workflows.ports import Services
from workflows.tools import get_tool, validate_input

DECISIONS = {"approve": ApprovalStatus.APPROVED, "reject": ApprovalStatus.REJECTED,
             "revise": ApprovalStatus.REVISE}
MAX_FEEDBACK = 5000


def parse_decision(data: Any) -> tuple[str, str | None, dict | None]:
    """Check a decision body: (decision, feedback, edited tool input)."""
    if not isinstance(data, dict):
        raise Malformed("body must be a JSON object")
    decision, feedback, tool_input = data.get("decision"), data.get("feedback"), data.get("toolInput")
    if not isinstance(decision, str):
        raise Malformed("decision must be a string", field="decision")
    if decision not in DECISIONS:
        raise Invalid("decision must be approve, reject or revise", field="decision")
    if feedback is not None and not isinstance(feedback, str):
        raise Malformed("feedback must be a string", field="feedback")
    if tool_input is not None and not isinstance(tool_input, dict):
        raise Malformed("toolInput must be an object", field="toolInput")
    feedback = (feedback or "").strip() or None
    if decision == "revise" and not feedback:
        raise Invalid("say what should change: feedback is required to request changes", field="feedback")
    if feedback and len(feedback) > MAX_FEEDBACK:
        raise Invalid(f"feedback must be at most {MAX_FEEDBACK} characters", field="feedback")
    if tool_input is not None and decision != "approve":
        raise Invalid("toolInput can only be sent with decision approve", field="toolInput")
    return decision, feedback, tool_input


def decide(services: Services, approval: Approval, decision: str, *, decided_by: str,
           channel: Channel, feedback: str | None = None, tool_input: dict | None = None) -> Approval:
    """Record the first decision and queue what follows it; Conflict if already decided."""
    step = approval.run_step
    decided_input = None
    if decision == "approve":
        decided_input = approval.proposed_input if tool_input is None else tool_input
        if tool_input is not None:
            tool = get_tool(step.tool_name)
            problems = validate_input(tool, tool_input, partial=False) if tool else []
            if problems:
                field, message = problems[0]
                raise Invalid(f"{field} {message}", field=field)
    now = services.clock()
    # Past expires_at it is too late even if the expiry message has not arrived yet.
    won = db.session.execute(
        sa.update(Approval)
        .where(Approval.id == approval.id, Approval.status == ApprovalStatus.PENDING, Approval.expires_at > now)
        .values(status=DECISIONS[decision], decided_input=decided_input, feedback=feedback,
                decided_by=decided_by, decided_at=now, channel=channel)
    ).rowcount
    if not won:
        db.session.rollback()
        raise Conflict(already_decided_message(db.session.get(Approval, approval.id)))
    run = approval.run
    if decision == "reject":
        _reject(services, run, step)
    else:
        response = "approved" if decision == "approve" else "revise"
        publishing.queue_step(services, run.workflow_id, run.id, run.conversation_id, step.step_index,
                              source_step=None, decision_id=approval.id, user_response=response)
    publishing.commit_and_flush(services)
    db.session.refresh(approval)
    return approval


def already_decided_message(approval: Approval) -> str:
    """'already approved by ada@example.com at 2026-…Z' (or expired / cancelled)."""
    status = approval.status.value
    if approval.status == ApprovalStatus.PENDING:  # past expires_at, the expiry message not in yet
        return f"this approval expired at {approval.expires_at:%Y-%m-%dT%H:%M:%SZ}; it can no longer be decided"
    if approval.status in (ApprovalStatus.EXPIRED, ApprovalStatus.CANCELLED):
        when = approval.decided_at or approval.expires_at
        return f"this approval was {status} at {when:%Y-%m-%dT%H:%M:%SZ}; it can no longer be decided"
    label = {"approved": "approved", "rejected": "rejected", "revise": "sent back for changes"}.get(status, status)
    return f"already {label} by {approval.decided_by} at {approval.decided_at:%Y-%m-%dT%H:%M:%SZ}"


def _reject(services: Services, run: Run, step: RunStep) -> None:
    """Reject ends the run now: the step is `rejected`, the steps after it `skipped`."""
    now = services.clock()
    db.session.execute(
        sa.update(RunStep).where(RunStep.id == step.id, RunStep.status == StepStatus.AWAITING_APPROVAL)
        .values(status=StepStatus.REJECTED, finished_at=now)
    )
    runs.skip_steps_after(run.id, step.step_index)
    runs.finish(services, run.id, run.workflow_id, RunStatus.REJECTED, error=f"step {step.step_index + 1} was rejected")


def expire(services: Services, approval_id: int) -> bool:
    """Expire a still-pending approval, its step and its run; False when it was decided."""
    now = services.clock()
    won = db.session.execute(
        sa.update(Approval)
        .where(Approval.id == approval_id, Approval.status == ApprovalStatus.PENDING)
        .values(status=ApprovalStatus.EXPIRED, decided_at=now)
    ).rowcount
    if not won:
        db.session.rollback()
        return False
    approval = db.session.get(Approval, approval_id)
    step, run = approval.run_step, approval.run
    db.session.execute(
        sa.update(RunStep).where(RunStep.id == step.id, RunStep.status == StepStatus.AWAITING_APPROVAL)
        .values(status=StepStatus.EXPIRED, finished_at=now)
    )
    runs.skip_steps_after(run.id, step.step_index)
    runs.finish(services, run.id, run.workflow_id, RunStatus.EXPIRED,
                error=f"step {step.step_index + 1} was not approved before {approval.expires_at:%Y-%m-%d %H:%M} UTC")
    publishing.commit_and_flush(services)
    return True
