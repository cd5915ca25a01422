"""One step per delivery (docs/architecture.md, *The step lifecycle*): claim, prepare the input, run, commit.

`handle_step` is called with the parsed body of a signature-verified QStash delivery and
returns a `Reply`; it trusts the database, never the message. No transaction is held open
across a tool call or a model call.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import (
    RUN_FINISHED,
    Approval,
    ApprovalStatus,
    Message,
    Run,
    RunStatus,
    RunStep,
    StepStatus,
)
from workflows.engine import publishing, references, runs
from workflows.engine.outcomes import Reply, complete, fail, ok, propose, release
from workflows.engine.tool_context import build_context
from workflows.errors import RetryableToolError, ToolError
from workflows.ports import Services
from workflows.tools import get_tool, validate_input
from workflows.tools.base import Delivery
from workflows.usage import Usage

log = logging.getLogger(__name__)

DONE_STATES = (StepStatus.FAILED, StepStatus.REJECTED, StepStatus.SKIPPED,
               StepStatus.CANCELLED, StepStatus.EXPIRED)
DECISIONS_THAT_RESUME = (ApprovalStatus.APPROVED, ApprovalStatus.REVISE)
# Where to look when an at-most-once effect may or may not have happened.
OUTCOME_WHERE = {"linkedin_post": "LinkedIn"}


@dataclass(frozen=True)
class StepMessage:
    """The step message body (contract)."""

    workflow_id: str
    run_id: int
    conversation_id: str
    step_index: int
    approval_id: int | None = None


def parse_message(data: Any) -> StepMessage | None:
    """The body as a StepMessage, or None when it does not match the contract."""
    if not isinstance(data, dict):
        return None
    wid, rid, cid, index = (data.get(k) for k in ("workflowId", "runId", "conversationId", "stepIndex"))
    approval_id = data.get("approvalId")
    if not (isinstance(wid, str) and isinstance(cid, str) and _is_int(rid) and _is_int(index)):
        return None
    if approval_id is not None and not _is_int(approval_id):
        return None
    return StepMessage(wid, rid, cid, index, approval_id)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def non_retryable(message: str) -> Reply:
    """489 + Upstash-NonRetryable-Error: QStash moves the message to the DLQ at once."""
    return Reply(489, {"error": message}, {"Upstash-NonRetryable-Error": "true"})


def handle_step(services: Services, data: Any) -> Reply:
    """Process one delivery of a step message."""
    message = parse_message(data)
    if message is None:
        return non_retryable("step message does not match {workflowId, runId, conversationId, stepIndex}")
    run = db.session.get(Run, message.run_id)
    if run is None or run.workflow_id != message.workflow_id or run.conversation_id != message.conversation_id:
        return non_retryable(f"no run {message.run_id} of workflow {message.workflow_id} with that conversation")
    step = db.session.scalar(
        sa.select(RunStep).where(RunStep.run_id == run.id, RunStep.step_index == message.step_index)
    )
    if step is None:
        return non_retryable(f"run {run.id} has no step {message.step_index}")

    if step.status == StepStatus.COMPLETED:
        return _flush_completed(services, run.id, step.step_index)
    if run.status in RUN_FINISHED or step.status in DONE_STATES:
        db.session.rollback()
        return ok(f"nothing to do: run is {run.status.value}, step is {step.status.value}")
    with_decision = False
    if step.status == StepStatus.AWAITING_APPROVAL:
        with_decision = _carries_decision(step, message.approval_id)
        if not with_decision:
            db.session.rollback()
            return ok("waiting for approval")

    token = secrets.token_hex(16)
    if not _claim(services, step, token, with_decision):
        return _not_claimed(services, step.id)
    db.session.execute(
        sa.update(Run).where(
            Run.id == run.id, Run.status.in_([RunStatus.PENDING.value, RunStatus.AWAITING_APPROVAL.value])
        ).values(status=RunStatus.RUNNING, started_at=sa.func.coalesce(Run.started_at, services.clock()))
    )
    db.session.commit()
    return _execute(services, run.id, step.id, token)


def _flush_completed(services: Services, run_id: int, step_index: int) -> Reply:
    """A redelivered completed step publishes whatever its completion left unsent."""
    ids = publishing.unsent_for_step(run_id, step_index)
    db.session.commit()
    if ids and not publishing.flush(services, ids):
        return Reply(503, {"status": "completed", "error": "QStash unreachable"}, {"Retry-After": "5"})
    return ok("already completed")


def _latest_approval(step_id: int) -> Approval | None:
    return db.session.scalar(
        sa.select(Approval).where(Approval.run_step_id == step_id).order_by(Approval.id.desc()).limit(1)
    )


def _carries_decision(step: RunStep, approval_id: int | None) -> bool:
    """True when the message resumes the step's latest approval, and that one was decided."""
    latest = _latest_approval(step.id)
    return (
        latest is not None
        and approval_id == latest.id
        and latest.status in DECISIONS_THAT_RESUME
    )


def _claim(services: Services, step: RunStep, token: str, with_decision: bool) -> bool:
    """One conditional UPDATE takes the step (never read-then-write)."""
    now = services.clock()
    claimable = sa.or_(
        RunStep.status == StepStatus.PENDING,
        sa.and_(RunStep.status == StepStatus.RUNNING, RunStep.lease_expires_at < now),
    )
    if with_decision:
        claimable = sa.or_(claimable, RunStep.status == StepStatus.AWAITING_APPROVAL)
    result = db.session.execute(
        sa.update(RunStep)
        .where(RunStep.id == step.id, claimable)
        .values(status=StepStatus.RUNNING, claim_token=token, attempts=RunStep.attempts + 1,
                lease_expires_at=runs.lease_until(services),
                started_at=sa.func.coalesce(RunStep.started_at, now))
    )
    return result.rowcount == 1


def _not_claimed(services: Services, step_id: int) -> Reply:
    """Someone else holds or finished the step: 409 while their lease lives, 200 otherwise."""
    db.session.rollback()
    step = db.session.get(RunStep, step_id)
    now = services.clock()
    if step.status == StepStatus.RUNNING and step.lease_expires_at and step.lease_expires_at > now:
        wait = max(1, int((step.lease_expires_at - now).total_seconds()) + 1)
        db.session.rollback()
        return Reply(409, {"error": "step is running in another attempt"}, {"Retry-After": str(wait)})
    if step.status == StepStatus.COMPLETED:
        return _flush_completed(services, step.run_id, step.step_index)
    status = step.status.value
    db.session.rollback()
    return ok(f"nothing to do: step is {status}")


def _execute(services: Services, run_id: int, step_id: int, token: str) -> Reply:
    """Steps 2-6 for a claimed step."""
    step = db.session.get(RunStep, step_id)
    run = step.run
    workflow = run.workflow
    owner_email, goal = workflow.owner.email, workflow.goal
    tool = get_tool(step.tool_name)
    if tool is None:
        return fail(services, run, step, token, f"unknown tool {step.tool_name!r}", owner_email, goal)
    if tool.delivery == Delivery.AT_MOST_ONCE and step.effect_started_at is not None:
        where = OUTCOME_WHERE.get(tool.name, "the destination")
        return fail(services, run, step, token,
                    f"outcome unknown — check {where}: an earlier attempt started and never reported back",
                    owner_email, goal)

    latest = _latest_approval(step.id)
    approved = latest if latest is not None and latest.status == ApprovalStatus.APPROVED else None
    decided_input = approved.decided_input if approved is not None else None
    feedback = latest.feedback if latest is not None and latest.status == ApprovalStatus.REVISE else None
    previous_proposal = latest.proposed_input if feedback is not None else None
    ctx = build_context(services, run, step, tool)
    conversation = _conversation(run.conversation_id)
    # Plain values only from here until the tool has run: touching an expired ORM object
    # would open a new (IMMEDIATE, on SQLite) transaction and hold it across the call.
    step_input, instruction, needs_approval = step.tool_input, step.instruction, step.needs_approval
    step_index = step.step_index
    db.session.commit()

    usage, call = Usage(), None
    if decided_input is not None:
        tool_input = decided_input  # verbatim: no rendering, no agent, on every retry
    else:
        try:
            tool_input = references.render_input(tool, step_input, references.namespace(ctx))
        except ToolError as exc:
            return fail(services, run, step, token, str(exc), owner_email, goal)
        if services.llm is not None and instruction:
            from workflows.integrations.agent import AgentFailure, AgentRetry, fill_with_agent

            try:
                tool_input, usage, call = fill_with_agent(
                    services.llm, goal=goal, tool=tool, step_index=step_index, instruction=instruction,
                    fixed_input=tool_input, conversation=conversation, feedback=feedback,
                    previous_proposal=previous_proposal,
                )
            except AgentRetry as exc:
                return release(services, step, token, str(exc), exc.retry_after, exc.messages, exc.usage)
            except AgentFailure as exc:
                return fail(services, run, step, token, str(exc), owner_email, goal)
        problems = validate_input(tool, tool_input, partial=False)
        if problems:
            detail = "; ".join(f"{field} {message}" for field, message in problems)
            return fail(services, run, step, token, f"invalid input: {detail}", owner_email, goal)

    if needs_approval and decided_input is None:
        return propose(services, run, step, token, tool_input, usage, owner_email, goal)

    if tool.delivery == Delivery.AT_MOST_ONCE:
        # Committed before the call: a takeover after this point must not post again.
        if not _mark_effect_started(services, step_id, token):
            return ok("claim lost: a newer attempt owns this step")
    try:
        result = tool.run(tool_input, ctx)
    except RetryableToolError as exc:
        # A tool raises this only when its effect certainly did not happen.
        return release(services, step, token, str(exc), exc.retry_after, effect_never_started=True)
    except ToolError as exc:
        return fail(services, run, step, token, str(exc), owner_email, goal)
    except Exception as exc:  # a bug in a tool: retry, and leave a trace in the log
        log.exception("tool %s crashed on run %s step %s", tool.name, run_id, step_index)
        return release(services, step, token, f"internal error in {tool.name}: {exc}", None)
    usage = usage + result.usage
    return complete(services, run, step, token, tool_input, result, usage, call)


def _mark_effect_started(services: Services, step_id: int, token: str) -> bool:
    done = db.session.execute(
        sa.update(RunStep).where(RunStep.id == step_id, RunStep.claim_token == token)
        .values(effect_started_at=services.clock())
    ).rowcount
    db.session.commit()
    return done == 1


def _conversation(conversation_id: str) -> list[dict[str, Any]]:
    """The run's conversation so far, in the wire shape of Chat Completions."""
    rows = db.session.scalars(
        sa.select(Message).where(Message.conversation_id == conversation_id).order_by(Message.position)
    )
    messages = []
    for row in rows:
        message: dict[str, Any] = {"role": row.role, "content": row.content}
        if row.tool_calls:
            message["tool_calls"] = row.tool_calls
        if row.tool_call_id:
            message["tool_call_id"] = row.tool_call_id
        messages.append(message)
    return messages
