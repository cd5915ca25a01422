"""Runs: creation (run now and schedule ticks), the overlap policy, finishing and cancelling.

Overlap is decided by conditional UPDATEs of the workflow's `active_run_id` and
`queued_run_id` in the transaction that creates the run, so two concurrent ticks can never both
start a run under `skip`, nor both wait under `queue`.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import (
    RUN_FINISHED,
    Approval,
    ApprovalStatus,
    Overlap,
    Run,
    RunStatus,
    RunStep,
    StepStatus,
    Trigger,
    Workflow,
)
from workflows.engine import publishing
from workflows.errors import NotFound
from workflows.ports import Services

FINISHED_VALUES = [s.value for s in RUN_FINISHED]
OPEN_STEP_STATES = (StepStatus.PENDING, StepStatus.AWAITING_APPROVAL)


def _new_run(workflow: Workflow, trigger: Trigger, now: datetime, **fields: object) -> Run:
    """A run with a copy of every step, so later edits of the workflow never reach it."""
    run = Run(
        workflow_id=workflow.id,
        conversation_id=f"conv_{uuid.uuid4().hex}",
        trigger=trigger,
        status=RunStatus.PENDING,
        created_at=now,
        **fields,
    )
    run.steps = [
        RunStep(
            step_index=step.index,
            tool_name=step.tool_name,
            tool_input=step.tool_input,
            instruction=step.instruction,
            needs_approval=step.needs_approval,
        )
        for step in workflow.steps
    ]
    db.session.add(run)
    db.session.flush()
    return run


def start_now(services: Services, workflow: Workflow, trigger: Trigger) -> Run:
    """Run now: always starts (explicit intent ignores the overlap policy)."""
    run = _new_run(workflow, trigger, services.clock())
    db.session.execute(
        sa.update(Workflow).where(Workflow.id == workflow.id).values(active_run_id=run.id)
    )
    publishing.queue_step(services, run, 0, source_step=None)
    publishing.commit_and_flush(services)
    return run


def start_scheduled(
    services: Services, workflow_id: str, message_id: str | None, scheduled_for: datetime
) -> tuple[Run | None, str]:
    """One run per tick, under the workflow's overlap policy. Returns (run, what happened)."""
    workflow = db.session.get(Workflow, workflow_id)
    if workflow is None:
        raise NotFound(f"workflow {workflow_id} not found")
    if workflow.paused or not workflow.schedule:
        db.session.rollback()
        return None, "paused" if workflow.paused else "unscheduled"
    now = services.clock()
    try:
        run = _new_run(
            workflow, Trigger.SCHEDULE, now, scheduled_for=scheduled_for, trigger_message_id=message_id
        )
    except IntegrityError:
        db.session.rollback()  # this tick (or this very message) already has its run
        return None, "duplicate"

    outcome = _apply_overlap(workflow, run)
    if outcome == "started":
        publishing.queue_step(services, run, 0, source_step=None)
    elif outcome == "skipped":
        run.status = RunStatus.SKIPPED
        run.finished_at = now
        run.error = "skipped: the previous run was still going (overlap policy)"
        for step in run.steps:
            step.status = StepStatus.SKIPPED
    publishing.commit_and_flush(services)
    return run, outcome


def _apply_overlap(workflow: Workflow, run: Run) -> str:
    """'started', 'queued' or 'skipped', decided by conditional UPDATEs (never read-then-write)."""
    claim_active = sa.update(Workflow).where(Workflow.id == workflow.id)
    if workflow.overlap == Overlap.ALLOW:
        db.session.execute(claim_active.values(active_run_id=run.id))
        return "started"
    won = db.session.execute(
        claim_active.where(Workflow.active_run_id.is_(None)).values(active_run_id=run.id)
    ).rowcount
    if won:
        return "started"
    if workflow.overlap == Overlap.QUEUE:
        waiting = db.session.execute(
            sa.update(Workflow)
            .where(Workflow.id == workflow.id, Workflow.queued_run_id.is_(None))
            .values(queued_run_id=run.id)
        ).rowcount
        if waiting:
            return "queued"
    return "skipped"


def after_finish(services: Services, run: Run) -> None:
    """Call in the transaction that made `run` terminal: free the workflow, start a queued run."""
    promoted = db.session.execute(
        sa.update(Workflow)
        .where(Workflow.id == run.workflow_id, Workflow.active_run_id == run.id)
        .values(active_run_id=Workflow.queued_run_id, queued_run_id=None)
        .returning(Workflow.active_run_id)
    ).scalar()
    db.session.execute(
        sa.update(Workflow)
        .where(Workflow.id == run.workflow_id, Workflow.queued_run_id == run.id)
        .values(queued_run_id=None)
    )
    if promoted:
        waiting = db.session.get(Run, promoted)
        if waiting is not None and waiting.status == RunStatus.PENDING:
            publishing.queue_step(services, waiting, 0, source_step=None)


def finish(services: Services, run: Run, status: RunStatus, error: str | None = None,
           from_states: tuple[RunStatus, ...] | None = None) -> bool:
    """Make the run terminal if it is not already; True when this call did it."""
    query = sa.update(Run).where(Run.id == run.id, Run.status.not_in(FINISHED_VALUES))
    if from_states:
        query = query.where(Run.status.in_([s.value for s in from_states]))
    values: dict[str, object] = {"status": status, "finished_at": services.clock()}
    if error is not None:
        values["error"] = error
    if not db.session.execute(query.values(**values)).rowcount:
        return False
    after_finish(services, run)
    return True


def skip_steps_after(run_id: int, step_index: int) -> None:
    """Steps after `step_index` that never ran become `skipped`."""
    db.session.execute(
        sa.update(RunStep)
        .where(RunStep.run_id == run_id, RunStep.step_index > step_index,
               RunStep.status == StepStatus.PENDING)
        .values(status=StepStatus.SKIPPED)
    )


def cancel(services: Services, run: Run) -> bool:
    """Cancel a run: open steps and approvals are cancelled; a running step finishes alone."""
    now = services.clock()
    if not finish(services, run, RunStatus.CANCELLED, error="cancelled"):
        db.session.rollback()
        return False
    db.session.execute(
        sa.update(RunStep)
        .where(RunStep.run_id == run.id, RunStep.status.in_([s.value for s in OPEN_STEP_STATES]))
        .values(status=StepStatus.CANCELLED, finished_at=now)
    )
    db.session.execute(
        sa.update(Approval)
        .where(Approval.run_id == run.id, Approval.status == ApprovalStatus.PENDING)
        .values(status=ApprovalStatus.CANCELLED, decided_at=now)
    )
    publishing.commit_and_flush(services)
    return True


def lease_until(services: Services) -> datetime:
    """When a claim taken now expires."""
    return services.clock() + timedelta(seconds=services.settings.step_timeout_seconds)
