"""Seeds for dashboard tests: workflows and runs written directly (QStash is tests/support/memory_queue).

The rows are those the engine would leave; the engine's own tests (tests/engine/) bring runs
this far for real.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from extensions import db
from models import Run, RunStatus, RunStep, StepStatus, Trigger, Workflow, WorkflowStep, utcnow


def add_workflow(owner_id: int, goal: str = "Weekly digest", schedule: str | None = None, **extra: Any) -> str:
    """A workflow with one compose step, written directly; its id. Needs an app context."""
    steps = extra.pop("steps", None) or [WorkflowStep(index=0, tool_name="compose", tool_input={"template": "hi"})]
    workflow = Workflow(owner_id=owner_id, goal=goal, schedule=schedule, steps=steps, **extra)
    db.session.add(workflow)
    db.session.flush()
    workflow_id = workflow.id  # read before the commit: afterwards it would open a (write) transaction
    db.session.commit()
    return workflow_id


def add_run(workflow_id: str, status: str = "completed", created: datetime | None = None,
            steps: list[RunStep] | None = None, **extra: Any) -> int:
    """A run in a given state (the rows the engine would leave), written directly; its id."""
    created = created or utcnow()
    finished = None if status in ("pending", "running", "awaiting_approval", "paused_budget") else created + timedelta(seconds=3)
    run = Run(workflow_id=workflow_id, conversation_id=f"conv_{uuid.uuid4().hex}", trigger=Trigger.SCHEDULE,
              status=RunStatus(status), created_at=created, started_at=created, finished_at=finished, **extra)
    run.steps = steps if steps is not None else [
        RunStep(step_index=0, tool_name="compose", tool_input={"template": "hi"},
                status=StepStatus.COMPLETED if status == "completed" else StepStatus.PENDING,
                attempts=1, started_at=created, finished_at=finished, output={"text": "hi"})]
    db.session.add(run)
    db.session.flush()
    run_id = run.id
    db.session.commit()
    return run_id
