"""Rows the security tests aim at, made through the domain (no HTTP, no QStash)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Approval, Run, RunStatus, RunStep, StepStatus, Trigger, Workflow
from workflows.engine import runs


def pending_approval(app: Any, workflow_id: str) -> int:
    """Start a run of the workflow and put its first step in front of a person; the approval id."""
    with app.app_context():
        services = app.extensions["stepwise"]
        run = runs.start_now(services, db.session.get(Workflow, workflow_id), Trigger.API)
        step = db.session.scalar(sa.select(RunStep).where(RunStep.run_id == run.id, RunStep.step_index == 0))
        step.status = StepStatus.AWAITING_APPROVAL
        step.input = step.tool_input
        db.session.execute(sa.update(Run).where(Run.id == run.id).values(status=RunStatus.AWAITING_APPROVAL))
        approval = Approval(run_step_id=step.id, run_id=run.id, proposed_input=step.tool_input,
                            created_at=services.clock(), expires_at=services.clock().replace(year=2100))
        db.session.add(approval)
        db.session.commit()
        return approval.id
