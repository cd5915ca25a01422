"""Runs: creation (run now and schedule ticks), the overlap policy, and every change of a run's status.

This is the only module that writes `runs.status` (docs/architecture.md, *Runs and their
status*): each change is a conditional UPDATE, so two writers racing (a cancel and a
completion, a decision and an expiry) cannot both win. Overlap is decided by conditional
UPDATEs of the workflow's `active_run_id` and `queued_run_id` in the transaction that creates
the run, so two concurrent ticks can never both start a run under `skip`, nor both wait under
`queue`. Under `supersede`, a tick ends the active run if it waits for approval: the approval
leaves `pending` by a conditional UPDATE, exactly as a decision does, so when a decision and a
tick race, one of them finds it pending and the other finds nothing. Hot-path statements are
prebuilt Core with bind parameters.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
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
    UTCDateTime,
    Workflow,
    WorkflowStep,
    owner_of_workflow,
)
from workflows.engine import publishing
from workflows.engine.attempt import connection
from workflows.errors import NotFound
from workflows.ports import Services
from workflows.usage import Usage

__all__ = ["RunStarted", "Trigger", "start_now", "start_scheduled", "cancel", "finish", "mark_running",
           "hold_running", "pause_for_approval", "pause_for_budget", "reopen", "add_usage", "skip_steps_after",
           "lease_until"]

FINISHED_VALUES = [s.value for s in RUN_FINISHED]
# Runs whose steps no delivery may claim: finished, or paused by the cost guard until resumed.
HALTED_VALUES = [*FINISHED_VALUES, RunStatus.PAUSED_BUDGET.value]
OPEN_STEP_STATES = (StepStatus.PENDING, StepStatus.AWAITING_APPROVAL)
_runs, _steps, _workflows, _definitions = Run.__table__, RunStep.__table__, Workflow.__table__, WorkflowStep.__table__
_NOW = sa.bindparam("now", type_=UTCDateTime())
_THIS_RUN = _runs.c.id == sa.bindparam("run_id")


@dataclass(frozen=True)
class RunStarted:
    """The run a start created (no ORM object: nothing to refresh after the commit)."""

    id: int
    status: RunStatus


# --- creation ------------------------------------------------------------------------------

_INSERT_RUN = sa.insert(_runs).values(
    workflow_id=sa.bindparam("b_workflow_id"), owner_id=owner_of_workflow(sa.bindparam("b_workflow_id")),
    conversation_id=sa.bindparam("b_conversation_id"),
    trigger=sa.bindparam("b_trigger", type_=_runs.c.trigger.type), status=RunStatus.PENDING,
    scheduled_for=sa.bindparam("b_scheduled_for", type_=UTCDateTime()), trigger_message_id=sa.bindparam("message_id"),
    created_at=_NOW, prompt_tokens=0, completion_tokens=0, cost_usd=0.0,
).returning(_runs.c.id)
# The run's copy of the steps is made by the database, from the workflow's rows, in one statement.
_COPY_STEPS = sa.insert(_steps).from_select(
    ["run_id", "step_index", "tool_name", "tool_input", "instruction", "needs_approval", "status", "attempts",
     "prompt_tokens", "completion_tokens", "cost_usd"],
    sa.select(sa.bindparam("b_run_id", type_=sa.Integer()), _definitions.c.index, _definitions.c.tool_name,
              _definitions.c.tool_input, _definitions.c.instruction, _definitions.c.needs_approval,
              sa.literal(StepStatus.PENDING.value), sa.literal(0), sa.literal(0), sa.literal(0), sa.literal(0.0))
    .where(_definitions.c.workflow_id == sa.bindparam("workflow_id")),
)
_CLAIM_ACTIVE = (sa.update(_workflows).where(_workflows.c.id == sa.bindparam("workflow_id"))
                 .values(active_run_id=sa.bindparam("run_id")))
_CLAIM_IDLE = _CLAIM_ACTIVE.where(_workflows.c.active_run_id.is_(None))
_CLAIM_QUEUE = (sa.update(_workflows)
                .where(_workflows.c.id == sa.bindparam("workflow_id"), _workflows.c.queued_run_id.is_(None))
                .values(queued_run_id=sa.bindparam("run_id")))
_WORKFLOW = sa.select(_workflows.c.paused, _workflows.c.schedule, _workflows.c.overlap).where(
    _workflows.c.id == sa.bindparam("workflow_id"))


def _insert_run(services: Services, workflow_id: str, trigger: Trigger, scheduled_for: datetime | None = None,
                message_id: str | None = None) -> tuple[int, str]:
    """A pending run with a copy of every step, so later edits of the workflow never reach it."""
    conversation_id = f"conv_{uuid.uuid4().hex}"
    conn = connection()
    run_id = conn.execute(_INSERT_RUN, {
        "b_workflow_id": workflow_id, "b_conversation_id": conversation_id, "b_trigger": trigger,
        "b_scheduled_for": scheduled_for, "message_id": message_id, "now": services.clock()}).scalar_one()
    conn.execute(_COPY_STEPS, {"b_run_id": run_id, "workflow_id": workflow_id})
    return run_id, conversation_id


def start_now(services: Services, workflow: Workflow, trigger: Trigger) -> RunStarted:
    """Run now: always starts (explicit intent ignores the overlap policy)."""
    workflow_id = workflow.id
    run_id, conversation_id = _insert_run(services, workflow_id, trigger)
    connection().execute(_CLAIM_ACTIVE, {"workflow_id": workflow_id, "run_id": run_id})
    publishing.queue_step(services, workflow_id, run_id, conversation_id, 0, source_step=None)
    publishing.commit_and_flush(services)
    return RunStarted(run_id, RunStatus.PENDING)


def start_scheduled(
    services: Services, workflow_id: str, message_id: str | None, scheduled_for: datetime
) -> tuple[RunStarted | None, str]:
    """One run per tick, under the workflow's overlap policy. Returns (run, what happened)."""
    workflow = connection().execute(_WORKFLOW, {"workflow_id": workflow_id}).first()
    if workflow is None:
        db.session.rollback()
        raise NotFound(f"workflow {workflow_id} not found")
    if workflow.paused or not workflow.schedule:
        db.session.rollback()
        return None, "paused" if workflow.paused else "unscheduled"
    try:
        run_id, conversation_id = _insert_run(services, workflow_id, Trigger.SCHEDULE, scheduled_for, message_id)
    except IntegrityError:
        db.session.rollback()  # this tick (or this very message) already has its run
        return None, "duplicate"
    outcome = _apply_overlap(services, workflow_id, workflow.overlap, run_id, scheduled_for)
    status = RunStatus.PENDING
    if outcome in STARTED:
        publishing.queue_step(services, workflow_id, run_id, conversation_id, 0, source_step=None)
    elif outcome == "skipped":
        status = RunStatus.SKIPPED
        connection().execute(_SKIP_RUN, {"run_id": run_id, "now": services.clock()})
        connection().execute(_SKIP_ALL_STEPS, {"b_run_id": run_id})
    publishing.commit_and_flush(services)
    return RunStarted(run_id, status), outcome


_SKIP_RUN = sa.update(_runs).where(_THIS_RUN).values(
    status=RunStatus.SKIPPED, finished_at=_NOW, error="skipped: the previous run was still going (overlap policy)")
_SKIP_ALL_STEPS = sa.update(_steps).where(_steps.c.run_id == sa.bindparam("b_run_id")).values(
    status=StepStatus.SKIPPED)


def _apply_overlap(services: Services, workflow_id: str, overlap: Overlap, run_id: int,
                   scheduled_for: datetime) -> str:
    """'started', 'superseded' (the waiting run ended, this one started), 'queued' or 'skipped',
    decided by conditional UPDATEs (never read-then-write)."""
    conn, ids = connection(), {"workflow_id": workflow_id, "run_id": run_id}
    if overlap == Overlap.ALLOW:
        conn.execute(_CLAIM_ACTIVE, ids)
        return "started"
    if conn.execute(_CLAIM_IDLE, ids).rowcount:
        return "started"
    if overlap == Overlap.QUEUE and conn.execute(_CLAIM_QUEUE, ids).rowcount:
        return "queued"
    if (overlap == Overlap.SUPERSEDE and _supersede_active(services, workflow_id, run_id, scheduled_for)
            and conn.execute(_CLAIM_IDLE, ids).rowcount):
        return "superseded"
    return "skipped"


# --- overlap supersede ---------------------------------------------------------------------

STARTED = ("started", "superseded")
_approvals = Approval.__table__
_ACTIVE_RUN = sa.select(_workflows.c.active_run_id).where(
    _workflows.c.id == sa.bindparam("workflow_id")).scalar_subquery()
# The same conditional UPDATE on `pending` as a decision's (approvals.decide): of a decision and a
# tick racing, exactly one finds the approval pending. A run executing a step has no pending
# approval, so the tick leaves it alone.
_SUPERSEDE_APPROVAL = (
    sa.update(_approvals)
    .where(_approvals.c.run_id == _ACTIVE_RUN, _approvals.c.status == ApprovalStatus.PENDING)
    .values(status=ApprovalStatus.SUPERSEDED, decided_at=_NOW)
    .returning(_approvals.c.run_id, _approvals.c.run_step_id)
)
# RunStep has no `superseded` (contract): the waiting step is `cancelled`, as when its run is cancelled.
_CANCEL_WAITING_STEP = (
    sa.update(_steps)
    .where(_steps.c.id == sa.bindparam("step_id"), _steps.c.status == StepStatus.AWAITING_APPROVAL)
    .values(status=StepStatus.CANCELLED, finished_at=_NOW)
    .returning(_steps.c.step_index)
)
_SUPERSEDED_BY = sa.update(_runs).where(_THIS_RUN).values(superseded_by_id=sa.bindparam("b_new_run_id"))


def _supersede_active(services: Services, workflow_id: str, new_run_id: int, scheduled_for: datetime) -> bool:
    """End the workflow's active run if it waits for approval (run and approval `superseded`, the
    waiting step `cancelled`, later steps `skipped`); False when it does not, or a decision won."""
    conn, now = connection(), services.clock()
    won = conn.execute(_SUPERSEDE_APPROVAL, {"workflow_id": workflow_id, "now": now}).first()
    if won is None:
        return False
    index = conn.execute(_CANCEL_WAITING_STEP, {"step_id": won.run_step_id, "now": now}).scalar()
    if index is not None:
        skip_steps_after(won.run_id, index)
    finish(services, won.run_id, workflow_id, RunStatus.SUPERSEDED,
           error=f"superseded by the run of {scheduled_for:%Y-%m-%d %H:%M} UTC (run #{new_run_id}): "
                 "its approval was still open when the next tick came")
    conn.execute(_SUPERSEDED_BY, {"run_id": won.run_id, "b_new_run_id": new_run_id})
    return True


# --- status changes ------------------------------------------------------------------------

_MARK_RUNNING = sa.update(_runs).where(
    _THIS_RUN, _runs.c.status.in_([RunStatus.PENDING.value, RunStatus.AWAITING_APPROVAL.value]),
).values(status=RunStatus.RUNNING, started_at=sa.func.coalesce(_runs.c.started_at, _NOW))
# A no-op write: on PostgreSQL it locks the row, so a cancel racing a completion either
# committed first (no row matches) or waits for the completion's commit.
_HOLD_RUNNING = sa.update(_runs).where(_THIS_RUN, _runs.c.status == RunStatus.RUNNING).values(
    status=RunStatus.RUNNING)
_PAUSE = sa.update(_runs).where(_THIS_RUN, _runs.c.status == RunStatus.RUNNING).values(
    status=RunStatus.AWAITING_APPROVAL)
_FINISH = sa.update(_runs).where(_THIS_RUN, _runs.c.status.not_in(FINISHED_VALUES)).values(
    status=sa.bindparam("new_status", type_=_runs.c.status.type), finished_at=_NOW,
    error=sa.func.coalesce(sa.bindparam("error", type_=sa.Text()), _runs.c.error))
_FINISH_RUNNING = _FINISH.where(_runs.c.status == RunStatus.RUNNING)
_PROMOTE = (sa.update(_workflows)
            .where(_workflows.c.id == sa.bindparam("workflow_id"), _workflows.c.active_run_id == sa.bindparam("run_id"))
            .values(active_run_id=_workflows.c.queued_run_id, queued_run_id=None)
            .returning(_workflows.c.active_run_id))
_UNQUEUE = (sa.update(_workflows)
            .where(_workflows.c.id == sa.bindparam("workflow_id"), _workflows.c.queued_run_id == sa.bindparam("run_id"))
            .values(queued_run_id=None))
_WAITING = sa.select(_runs.c.status, _runs.c.conversation_id).where(_THIS_RUN)
_ADD_USAGE = sa.update(_runs).where(_THIS_RUN).values(
    prompt_tokens=_runs.c.prompt_tokens + sa.bindparam("b_prompt_tokens"),
    completion_tokens=_runs.c.completion_tokens + sa.bindparam("b_completion_tokens"),
    cost_usd=_runs.c.cost_usd + sa.bindparam("b_cost_usd"))


def mark_running(services: Services, run_id: int) -> None:
    """A step was claimed: a pending (or paused) run is running from now."""
    connection().execute(_MARK_RUNNING, {"run_id": run_id, "now": services.clock()})


def hold_running(run_id: int) -> bool:
    """True while the run is running, holding its row until the commit (nothing published after a cancel)."""
    return connection().execute(_HOLD_RUNNING, {"run_id": run_id}).rowcount == 1


def pause_for_approval(run_id: int) -> bool:
    """Running → awaiting approval; False when the run is no longer running (cancelled meanwhile)."""
    return connection().execute(_PAUSE, {"run_id": run_id}).rowcount == 1


def add_usage(run_id: int, usage: Usage) -> None:
    """Add a step's tokens and cost to its run's totals."""
    if usage != Usage():
        connection().execute(_ADD_USAGE, {"run_id": run_id, "b_prompt_tokens": usage.prompt_tokens,
                                          "b_completion_tokens": usage.completion_tokens,
                                          "b_cost_usd": usage.cost_usd})


def finish(services: Services, run_id: int, workflow_id: str, status: RunStatus, error: str | None = None,
           from_running: bool = False) -> bool:
    """Make the run terminal if it is not already; True when this call did it.

    In the same transaction the workflow is freed and a run waiting its turn (overlap `queue`)
    gets its first step message.
    """
    statement = _FINISH_RUNNING if from_running else _FINISH
    conn = connection()
    if not conn.execute(statement, {"run_id": run_id, "new_status": status, "now": services.clock(),
                                    "error": error}).rowcount:
        return False
    _free_slot(services, workflow_id, run_id)
    return True


def _free_slot(services: Services, workflow_id: str, run_id: int) -> None:
    """The run no longer holds the workflow's overlap slot; a run waiting its turn (`queue`) takes
    it and gets its first step message, in the caller's transaction."""
    conn, ids = connection(), {"workflow_id": workflow_id, "run_id": run_id}
    promoted = conn.execute(_PROMOTE, ids).scalar()
    conn.execute(_UNQUEUE, ids)
    if promoted:
        waiting = conn.execute(_WAITING, {"run_id": promoted}).first()
        if waiting is not None and waiting.status == RunStatus.PENDING:
            publishing.queue_step(services, workflow_id, promoted, waiting.conversation_id, 0, source_step=None)


_PAUSE_BUDGET = sa.update(_runs).where(_THIS_RUN, _runs.c.status == RunStatus.RUNNING).values(
    status=RunStatus.PAUSED_BUDGET, error=sa.bindparam("error", type_=sa.Text()))


def pause_for_budget(services: Services, run_id: int, workflow_id: str, reason: str) -> bool:
    """Running → paused_budget (the reason kept as its error); the run gives up the overlap slot,
    since it may wait for days. False when the run is no longer running (cancelled meanwhile)."""
    if not connection().execute(_PAUSE_BUDGET, {"run_id": run_id, "error": reason}).rowcount:
        return False
    _free_slot(services, workflow_id, run_id)
    return True


def _reopen_statement(status: RunStatus, counter: str) -> sa.Update:
    column = _runs.c[counter]
    return (sa.update(_runs).where(_THIS_RUN, _runs.c.status == status)
            .values({_runs.c.status: RunStatus.RUNNING, _runs.c.finished_at: None, _runs.c.error: None,
                     column: column + 1})
            .returning(column))


# A failed run is retried (retry_count), a budget-paused one resumed (resume_count).
_REOPEN = {RunStatus.FAILED: (_reopen_statement(RunStatus.FAILED, "retry_count"), "retry"),
           RunStatus.PAUSED_BUDGET: (_reopen_statement(RunStatus.PAUSED_BUDGET, "resume_count"), "resume")}


def reopen(services: Services, run_id: int, workflow_id: str, conversation_id: str, from_status: RunStatus,
           step_index: int) -> int | None:
    """A failed or budget-paused run runs again from `step_index`, at its owner's word: its new
    retry (or resume) count n, and its step message `…-step-{i}-retry-{n}` (or `-resume-{n}`)
    queued; None when the run was no longer in `from_status` (someone was first).

    Like Run now, an owner's explicit act ignores the overlap policy: the run takes the slot.
    """
    statement, again = _REOPEN[from_status]
    conn = connection()
    count = conn.execute(statement, {"run_id": run_id}).scalar()
    if count is None:
        return None
    conn.execute(_CLAIM_ACTIVE, {"workflow_id": workflow_id, "run_id": run_id})
    publishing.queue_step(services, workflow_id, run_id, conversation_id, step_index, source_step=None,
                          again=f"{again}-{count}")
    return count


def skip_steps_after(run_id: int, step_index: int) -> None:
    """Steps after `step_index` that never ran become `skipped`."""
    db.session.execute(
        sa.update(RunStep)
        .where(RunStep.run_id == run_id, RunStep.step_index > step_index, RunStep.status == StepStatus.PENDING)
        .values(status=StepStatus.SKIPPED)
    )


def cancel(services: Services, run: Run) -> bool:
    """Cancel a run: open steps and approvals are cancelled; a running step finishes alone."""
    now = services.clock()
    run_id = run.id
    if not finish(services, run_id, run.workflow_id, RunStatus.CANCELLED, error="cancelled"):
        db.session.rollback()
        return False
    db.session.execute(
        sa.update(RunStep)
        .where(RunStep.run_id == run_id, RunStep.status.in_([s.value for s in OPEN_STEP_STATES]))
        .values(status=StepStatus.CANCELLED, finished_at=now)
    )
    db.session.execute(
        sa.update(Approval)
        .where(Approval.run_id == run_id, Approval.status == ApprovalStatus.PENDING)
        .values(status=ApprovalStatus.CANCELLED, decided_at=now)
    )
    publishing.commit_and_flush(services)
    return True


def lease_until(services: Services) -> datetime:
    """When a claim taken now expires."""
    return services.clock() + timedelta(seconds=services.settings.step_timeout_seconds)
