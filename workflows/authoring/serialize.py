"""JSON shapes of the API (contract: docs/architecture.md, "HTTP surface"). camelCase, UTC `...Z`."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Approval, Asset, Run, Workflow, iso
from workflows.authoring.changes import Comparison
from workflows.engine.costs import WorkflowCost
from workflows.engine.schedules import next_runs


def step_json(index: int, step: Any) -> dict[str, Any]:
    """One step of a workflow or of a plan (a WorkflowStep or a StepSpec)."""
    return {"index": index, "toolName": step.tool_name, "toolInput": step.tool_input,
            "instruction": step.instruction, "needsApproval": step.needs_approval}


def workflow_json(workflow: Workflow, now: datetime, cost: WorkflowCost | None = None) -> dict[str, Any]:
    """A workflow; with its cost, the month's spend and a run's projected cost too (USD)."""
    body = {
        "id": workflow.id,
        "goal": workflow.goal,
        "schedule": workflow.schedule,
        "timezone": workflow.timezone,
        "qstashScheduleId": workflow.qstash_schedule_id,
        "paused": workflow.paused,
        "overlap": workflow.overlap.value,
        "steps": [step_json(step.index, step) for step in workflow.steps],
        "createdAt": iso(workflow.created_at),
        "updatedAt": iso(workflow.updated_at),
        "nextRuns": [] if workflow.paused else next_runs(workflow, now),
        "budgetUsd": workflow.budget_usd,
    }
    if cost is not None:
        body["monthSpendUsd"] = round(cost.month_spend_usd, 6)
        body["projectedRunCostUsd"] = round(cost.projected_run_cost_usd, 6)
    return body


def approval_json(approval: Approval) -> dict[str, Any]:
    step = approval.run_step
    return {
        "id": approval.id,
        "runId": approval.run_id,
        "workflowId": approval.run.workflow_id,
        "stepIndex": step.step_index,
        "toolName": step.tool_name,
        "status": approval.status.value,
        "proposedInput": approval.proposed_input,
        "decidedInput": approval.decided_input,
        "feedback": approval.feedback,
        "decidedBy": approval.decided_by,
        "decidedAt": iso(approval.decided_at),
        "channel": approval.channel.value if approval.channel else None,
        "expiresAt": iso(approval.expires_at),
        "createdAt": iso(approval.created_at),
    }


def approval_detail_json(approval: Approval, comparison: Comparison | None) -> dict[str, Any]:
    """One approval with the last approved version of its step (`previousApproved`, its time and
    approval id) and the proposal's similarity to it, 0-1 (docs/architecture.md, *What changed
    since last time*); null without an earlier approved version."""
    previous = comparison.previous if comparison else None
    similarity = comparison.similarity if comparison else None
    return {
        **approval_json(approval),
        "previousApproved": previous.decided_input if previous else None,
        "previousApprovedAt": iso(previous.decided_at) if previous else None,
        "previousApprovalId": previous.approval_id if previous else None,
        "similarity": round(similarity, 4) if similarity is not None else None,
    }


def run_json(run: Run, detail: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": run.id,
        "workflowId": run.workflow_id,
        "conversationId": run.conversation_id,
        "status": run.status.value,
        "trigger": run.trigger.value,
        "scheduledFor": iso(run.scheduled_for),
        "createdAt": iso(run.created_at),
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "error": run.error,
        "promptTokens": run.prompt_tokens,
        "completionTokens": run.completion_tokens,
        "costUsd": round(run.cost_usd, 6),
        "supersededBy": run.superseded_by_id,
    }
    if not detail:
        return body
    body["steps"] = [
        {
            "index": step.step_index,
            "toolName": step.tool_name,
            "status": step.status.value,
            "attempts": step.attempts,
            "input": step.input,
            "output": step.output,
            "error": step.error,
            "needsApproval": step.needs_approval,
            "instruction": step.instruction,
            "startedAt": iso(step.started_at),
            "finishedAt": iso(step.finished_at),
            "promptTokens": step.prompt_tokens,
            "completionTokens": step.completion_tokens,
        }
        for step in run.steps
    ]
    approvals = db.session.scalars(sa.select(Approval).where(Approval.run_id == run.id).order_by(Approval.id))
    body["approvals"] = [approval_json(a) for a in approvals]
    assets = db.session.scalars(sa.select(Asset).where(Asset.run_id == run.id).order_by(Asset.id))
    body["assets"] = [
        {"id": a.id, "stepIndex": a.step_index, "kind": a.kind, "title": a.title, "mimeType": a.mime_type}
        for a in assets
    ]
    return body
