"""The cost guard (docs/architecture.md, *The cost guard*): no model call may take a workflow past
its monthly budget.

Before a step calls the model (the step agent, or a tool such as `write`), `read` takes the
budget, the month's spend and the step's history in the claim's transaction, and
`Guard.refusal` decides once the input is known: if the month's spend plus the step's expected
cost would exceed the budget, `outcomes.pause_for_budget` gives the claim back uncharged, the
run becomes `paused_budget`, the workflow is paused as its owner's Pause would, and the owner
gets one email. The month is the calendar month in the workflow's timezone.

The workflow is paused in the database in that transaction and marked as a schedule change is
(`schedules.PAUSE_MARK`); QStash's schedule is paused after the commit (`schedules.settle`, never
inside a transaction). If that call fails or the process dies first, the mark stays and the
minute sweep pauses the schedule (`schedules.repair_changes`); meanwhile a tick finds the workflow
paused and starts nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import sqlalchemy as sa

from extensions import db
from models import Run, RunStatus, RunStep, StepStatus, Workflow
from workflows.engine import costs, outbox, publishing, runs, schedules
from workflows.engine.attempt import Attempt, connection
from workflows.engine.costs import usd
from workflows.errors import Conflict
from workflows.ports import Services
from workflows.tools import get_tool
from workflows.tools.base import Tool

_workflows, _steps = Workflow.__table__, RunStep.__table__
_BUDGET = sa.select(_workflows.c.budget_usd, _workflows.c.timezone).where(
    _workflows.c.id == sa.bindparam("workflow_id"))


@dataclass(frozen=True)
class Guard:
    """What the check needs, read before the model call: the budget, the spend, the step's history."""

    workflow_id: str
    step_index: int
    budget_usd: float
    spend_usd: float
    month_start: datetime  # in the workflow's zone
    step_median_usd: float | None  # None: the step never completed, its prompt is priced instead
    model: str

    def expected(self, tool: Tool, tool_input: Any, **prompt: Any) -> float:
        """The step's expected cost: its median over its last runs, else its prompt priced."""
        if self.step_median_usd is not None:
            return self.step_median_usd
        return costs.prompt_cost(self.model, costs.prompt_tokens(tool, tool_input, **prompt))

    def over(self, expected: float) -> bool:
        """True when the month's spend plus `expected` would exceed the budget."""
        return self.spend_usd + expected > self.budget_usd

    def refusal(self, tool: Tool, tool_input: Any, **prompt: Any) -> str | None:
        """Why the step must not call the model now, or None when the budget allows it."""
        expected = self.expected(tool, tool_input, **prompt)
        if not self.over(expected):
            return None
        return (f"The cost guard paused this run before step {self.step_index + 1} ({tool.name}): "
                f"{self.explain(expected)}. Raise the budget, then resume the run.")

    def explain(self, expected: float) -> str:
        """The sums in words: spend plus expected against the budget, and which month."""
        zone = self.month_start.tzname() if self.month_start.tzinfo else "UTC"
        return (f"this month's spend {usd(self.spend_usd)} plus the step's expected {usd(expected)} would "
                f"exceed the monthly budget of {usd(self.budget_usd)} (month from "
                f"{self.month_start:%Y-%m-%d}, {zone})")


def read(services: Services, attempt: Attempt, tool_name: str) -> Guard | None:
    """The guard of a step that will call the model, or None when its workflow has no budget."""
    row = connection().execute(_BUDGET, {"workflow_id": attempt.workflow_id}).first()
    if row is None or row.budget_usd is None:
        return None
    return _guard(services, attempt.workflow_id, attempt.run_id, attempt.step_index, tool_name,
                  row.budget_usd, row.timezone)


def _guard(services: Services, workflow_id: str, run_id: int, step_index: int, tool_name: str,
           budget: float, zone: str) -> Guard:
    since = costs.month_start(zone, services.clock())
    return Guard(workflow_id, step_index, budget, costs.month_spend(workflow_id, since), since,
                 costs.step_median(workflow_id, run_id, step_index, tool_name), services.settings.llm_model)


_PAUSE_WORKFLOW = (
    sa.update(_workflows).where(_workflows.c.id == sa.bindparam("workflow_id"))
    .values(paused=True, schedule_changing_since=schedules.PAUSE_MARK)
    .returning(_workflows.c.schedule_changing_since)
)


def pause_workflow(services: Services, guard: Guard, run_id: int, reason: str) -> datetime | None:
    """Pause the workflow in the caller's transaction and queue the owner's one email.

    Returns the mark to settle after the commit (`schedules.settle`), or None when there is
    nothing for this pause to tell QStash (no schedule, already paused) or a schedule change in
    flight left it to the sweep. The UPDATE also holds the workflow's row, so two runs pausing at
    once queue their emails one after the other, and the second finds the first's (the key: one
    email per workflow, month and budget).
    """
    now = services.clock()
    mark = connection().execute(_PAUSE_WORKFLOW, {"workflow_id": guard.workflow_id,
                                                  **schedules.pause_marks(now)}).scalar()
    key = f"budget-{guard.workflow_id}-{guard.month_start:%Y-%m}-{guard.budget_usd:g}"
    outbox.queue_budget_paused(services, key, guard.workflow_id, run_id, reason)
    return mark if mark == now else None


# --- resuming -------------------------------------------------------------------------------

def paused_step(run_id: int) -> RunStep | None:
    """The step a budget-paused run stopped before: its first pending one."""
    return db.session.scalar(sa.select(RunStep).where(RunStep.run_id == run_id, RunStep.status == StepStatus.PENDING)
                             .order_by(RunStep.step_index).limit(1))


def resume_refusal(services: Services, run: Run, step: RunStep | None) -> str | None:
    """Why the paused run cannot go on yet (the budget still too low), or None."""
    workflow, tool = run.workflow, get_tool(step.tool_name) if step else None
    if step is None or tool is None or workflow.budget_usd is None or services.llm is None:
        return None
    guard = _guard(services, workflow.id, run.id, step.step_index, step.tool_name, workflow.budget_usd,
                   workflow.timezone)
    expected = guard.expected(tool, step.tool_input, goal=workflow.goal, instruction=step.instruction,
                              agent=bool(step.instruction))
    if not guard.over(expected):
        return None
    return f"Raise the budget first: {guard.explain(expected)}."


def resume_run(services: Services, run: Run) -> None:
    """Resume a budget-paused run from the step it stopped before (`…-step-{i}-resume-{n}`)."""
    run_id, workflow_id, conversation_id = run.id, run.workflow_id, run.conversation_id
    if run.status != RunStatus.PAUSED_BUDGET:
        raise Conflict(f"run {run_id} is {run.status.value}; only a run the cost guard paused can be resumed")
    step = paused_step(run_id)
    if step is None:
        raise Conflict(f"run {run_id} has no step left to run")
    step_index = step.step_index
    refusal = resume_refusal(services, run, step)
    if refusal:
        db.session.rollback()
        raise Conflict(refusal, field="budgetUsd")
    if runs.reopen(services, run_id, workflow_id, conversation_id, RunStatus.PAUSED_BUDGET, step_index) is None:
        db.session.rollback()
        raise Conflict(f"run {run_id} was resumed or cancelled meanwhile")
    publishing.commit_and_flush(services)


def paused_runs(services: Services, workflow: Workflow) -> Sequence[tuple[Run, RunStep | None, str | None]]:
    """The workflow's budget-paused runs, each with the step it waits at and why it cannot resume yet."""
    found = db.session.scalars(sa.select(Run).where(Run.workflow_id == workflow.id,
                                                    Run.status == RunStatus.PAUSED_BUDGET).order_by(Run.id)).all()
    waiting = []
    for run in found:
        step = paused_step(run.id)
        waiting.append((run, step, resume_refusal(services, run, step)))
    return waiting
