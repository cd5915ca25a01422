"""Retry a failed run from its failed step (docs/architecture.md, *Retry from the failed step*).

Completed steps keep their outputs. The failed step goes back to `pending` with its attempts
kept, the steps skipped after it too, and the run runs again, through a step message of its own,
`…-step-{i}-retry-{n}` (n: the run's retry count, stored), written as a PendingPublish in the
same transaction. A step whose at-most-once effect may have happened (a LinkedIn post whose
attempt never reported back) is retried only once its owner says they checked
(`confirmedOutcome`): Stepwise cannot know whether the post exists.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Run, RunStatus, RunStep, StepStatus
from workflows.engine import publishing, runs
from workflows.engine.attempt import connection
from workflows.engine.delivery import OUTCOME_WHERE
from workflows.errors import Conflict, Malformed
from workflows.ports import Services
from workflows.tools import get_tool
from workflows.tools.base import Delivery

_steps = RunStep.__table__
_RESET = sa.update(_steps).where(_steps.c.id == sa.bindparam("step_id"), _steps.c.status == StepStatus.FAILED).values(
    status=StepStatus.PENDING, error=None, finished_at=None, claim_token=None, lease_expires_at=None,
    effect_started_at=None)
_UNSKIP = sa.update(_steps).where(
    _steps.c.run_id == sa.bindparam("b_run_id"), _steps.c.step_index > sa.bindparam("b_step_index"),
    _steps.c.status == StepStatus.SKIPPED).values(status=StepStatus.PENDING)


def parse_retry(data: Any) -> bool:
    """The retry body, `{}` or `{"confirmedOutcome": true}`: whether the owner confirmed."""
    if data is None:
        return False
    if not isinstance(data, dict):
        raise Malformed("body must be a JSON object")
    confirmed = data.get("confirmedOutcome", False)
    if not isinstance(confirmed, bool):
        raise Malformed("confirmedOutcome must be true or false", field="confirmedOutcome")
    return confirmed


def failed_step(run_id: int) -> RunStep | None:
    """The step a failed run stopped at."""
    return db.session.scalar(sa.select(RunStep).where(RunStep.run_id == run_id, RunStep.status == StepStatus.FAILED)
                             .order_by(RunStep.step_index).limit(1))


def outcome_unknown(step: RunStep) -> str | None:
    """Where to look when the step's at-most-once effect may have happened ("LinkedIn"), else None."""
    tool = get_tool(step.tool_name)
    if tool is None or tool.delivery != Delivery.AT_MOST_ONCE or step.effect_started_at is None:
        return None
    return OUTCOME_WHERE.get(tool.name, "the destination")


def retry_run(services: Services, run: Run, confirmed: bool = False) -> int:
    """Send a failed run on from its failed step (returns its index); Conflict when the run is not
    failed, or the failed step's effect may have happened and the owner has not said they checked."""
    run_id, workflow_id, conversation_id = run.id, run.workflow_id, run.conversation_id
    if run.status != RunStatus.FAILED:
        raise Conflict(f"run {run_id} is {run.status.value}; only a failed run can be retried")
    step = failed_step(run_id)
    if step is None:
        raise Conflict(f"run {run_id} has no failed step to retry")
    step_id, index, where = step.id, step.step_index, outcome_unknown(step)
    if where and not confirmed:
        raise Conflict(f"step {index + 1} ({step.tool_name}) may have happened already: an attempt started and never "
                       f"reported back. Check {where}, then retry with confirmedOutcome true to run it again.",
                       field="confirmedOutcome")
    # The run's conditional UPDATE first: of two retries at once, one wins, the other changes nothing.
    count = runs.reopen(services, run_id, workflow_id, conversation_id, RunStatus.FAILED, index)
    if count is None or not connection().execute(_RESET, {"step_id": step_id}).rowcount:
        db.session.rollback()
        raise Conflict(f"run {run_id} was retried meanwhile")
    connection().execute(_UNSKIP, {"b_run_id": run_id, "b_step_index": index})
    publishing.commit_and_flush(services)
    return index
