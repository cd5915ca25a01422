"""Approvals written straight into the database, in the state the engine leaves them in
(step and run `awaiting_approval`, approval pending): for page tests that need no QStash."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from extensions import db
from models import Approval, ApprovalStatus, Run, RunStatus, RunStep, StepStatus, Trigger, Workflow, WorkflowStep, utcnow
from workflows.integrations import accounts

POST = {"text": "Three things we learned about AI this week.\n\n1. Agents need approvals.", "link": "https://example.com/ai"}
EMAIL = {"to": "team@example.com", "subject": "Weekly digest", "body": "Hello team,\n\nHere is the digest."}
WEBHOOK = {"url": "https://hooks.example.com/weekly", "method": "POST", "json": {"text": "Report ready", "n": 3}}
INPUTS = {"linkedin_post": POST, "send_email": EMAIL, "http_request": WEBHOOK}


def seed(owner_email: str, tool: str = "linkedin_post", *, instruction: str | None = None,
         status: ApprovalStatus = ApprovalStatus.PENDING, goal: str = "Publish a weekly LinkedIn post about AI trends",
         expires_in: timedelta = timedelta(hours=24), tool_input: dict[str, Any] | None = None) -> tuple[int, int, str]:
    """A workflow with one step needing approval and a run waiting at it: (approval id, run id,
    workflow id). Needs an app context."""
    owner = accounts.user_by_email(owner_email)
    now = utcnow()
    data = tool_input or INPUTS[tool]
    workflow = Workflow(owner_id=owner.id, goal=goal, steps=[
        WorkflowStep(index=0, tool_name=tool, tool_input=data, instruction=instruction, needs_approval=True)])
    run = Run(workflow=workflow, conversation_id=uuid.uuid4().hex, trigger=Trigger.MANUAL,
              status=RunStatus.AWAITING_APPROVAL, started_at=now)
    step = RunStep(run=run, step_index=0, tool_name=tool, tool_input=data, instruction=instruction,
                   needs_approval=True, status=StepStatus.AWAITING_APPROVAL, attempts=1, input=data, started_at=now)
    approval = Approval(run_step=step, run=run, status=status, proposed_input=data, expires_at=now + expires_in)
    db.session.add_all([workflow, run, step, approval])
    db.session.commit()
    return approval.id, run.id, workflow.id


def approved_before(workflow_id: str, tool: str, data: dict[str, Any], decided_at: datetime,
                    step_index: int = 0) -> int:
    """An earlier, completed run of the workflow whose step was approved with `data` at
    `decided_at` (what a new proposal is compared with); the approval id. Needs an app context."""
    run = Run(workflow_id=workflow_id, conversation_id=uuid.uuid4().hex, trigger=Trigger.SCHEDULE,
              status=RunStatus.COMPLETED, started_at=decided_at, finished_at=decided_at)
    step = RunStep(run=run, step_index=step_index, tool_name=tool, tool_input=data, needs_approval=True,
                   status=StepStatus.COMPLETED, attempts=2, input=data, started_at=decided_at, finished_at=decided_at)
    approval = Approval(run_step=step, run=run, status=ApprovalStatus.APPROVED, proposed_input=data, decided_input=data,
                        decided_by="ada@example.com", decided_at=decided_at, expires_at=decided_at + timedelta(hours=72))
    db.session.add_all([run, step, approval])
    db.session.commit()
    return approval.id
