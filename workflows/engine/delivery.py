"""One step per delivery (docs/architecture.md, *The step lifecycle*): claim, prepare the input, run the tool.

`handle_step` is called with the parsed body of a signature-verified QStash delivery and
returns a `Reply`; it trusts the database, never the message. A plain step costs three short
transactions: the claim (with whatever the step must read), the completion, and the record
that its next message was published. No transaction is held open across a tool call, a model
call or a publish.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import MAX_ID, RUN_FINISHED, Approval, ApprovalStatus, Run, RunStatus, RunStep, StepStatus, UTCDateTime
from workflows.engine import conversation, cost_guard, publishing, references, runs
from workflows.engine.attempt import Attempt, ClaimedStep, Decision, connection, goal_and_outputs, latest_decision
from workflows.engine.outcomes import complete, fail, mark_effect_started, pause_for_budget, propose, release
from workflows.engine.replies import Reply, busy, non_retryable, ok, unpublished
from workflows.engine.tool_context import build_context
from workflows.errors import RetryableToolError, ToolError
from workflows.ports import Services
from workflows.tools import get_tool, validate_input
from workflows.tools.base import Delivery, Tool, ToolContext
from workflows.usage import Usage

__all__ = ["Reply", "StepMessage", "handle_step", "non_retryable", "parse_message"]

log = logging.getLogger(__name__)

DONE_STATES = (StepStatus.FAILED, StepStatus.REJECTED, StepStatus.SKIPPED,
               StepStatus.CANCELLED, StepStatus.EXPIRED)
DECISIONS_THAT_RESUME = [ApprovalStatus.APPROVED.value, ApprovalStatus.REVISE.value]
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
    # Within the id columns' range: PostgreSQL refuses to compare a larger number with them.
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID


# --- the claim (docs/architecture.md, *The claim table*) -----------------------------------

_steps, _runs, _approvals = RunStep.__table__, Run.__table__, Approval.__table__
_NOW = sa.bindparam("now", type_=UTCDateTime())
_later = _steps.alias("later")
_RUN_ID = sa.bindparam("b_run_id", type_=sa.Integer())
_CLAIMABLE = sa.or_(_steps.c.status == StepStatus.PENDING,
                    sa.and_(_steps.c.status == StepStatus.RUNNING, _steps.c.lease_expires_at < _NOW))
# Resuming after a decision: the message names the step's latest approval, and it was decided.
_DECIDED = sa.and_(
    _steps.c.status == StepStatus.AWAITING_APPROVAL,
    sa.select(sa.func.max(_approvals.c.id)).where(_approvals.c.run_step_id == _steps.c.id).scalar_subquery()
    == sa.bindparam("approval_id", type_=sa.Integer()),
    sa.exists().where(_approvals.c.id == sa.bindparam("approval_id", type_=sa.Integer()),
                      _approvals.c.status.in_(DECISIONS_THAT_RESUME)),
)
_RUN_MATCHES = sa.exists().where(
    _runs.c.id == _RUN_ID, _runs.c.workflow_id == sa.bindparam("workflow_id"),
    _runs.c.conversation_id == sa.bindparam("conversation_id"), _runs.c.status.not_in(runs.HALTED_VALUES))


def _claim_statement(claimable: Any) -> sa.Update:
    """One conditional UPDATE takes the step (never read-then-write) and returns what the attempt needs."""
    return (
        sa.update(_steps)
        .where(_steps.c.run_id == _RUN_ID, _steps.c.step_index == sa.bindparam("b_step_index"),
               claimable, _RUN_MATCHES)
        .values(status=StepStatus.RUNNING, claim_token=sa.bindparam("token"), attempts=_steps.c.attempts + 1,
                lease_expires_at=sa.bindparam("lease", type_=UTCDateTime()),
                started_at=sa.func.coalesce(_steps.c.started_at, _NOW))
        # RETURNING renders its columns unqualified, so its subqueries name the run by parameter,
        # never by a correlated column (`run_id = run_id` would compare a subquery row with itself).
        .returning(
            _steps.c.id, _steps.c.tool_name, _steps.c.tool_input, _steps.c.instruction, _steps.c.needs_approval,
            _steps.c.effect_started_at,
            sa.select(_runs.c.status).where(_runs.c.id == _RUN_ID).scalar_subquery().label("run_status"),
            sa.select(sa.func.coalesce(_runs.c.started_at, _runs.c.created_at)).where(
                _runs.c.id == _RUN_ID).scalar_subquery().label("run_started_at"),
            sa.select(sa.func.max(_later.c.step_index)).where(
                _later.c.run_id == _RUN_ID).scalar_subquery().label("last_index"),
        )
    )


_CLAIM = _claim_statement(_CLAIMABLE)
_CLAIM_DECIDED = _claim_statement(sa.or_(_CLAIMABLE, _DECIDED))
_STATE = (
    sa.select(_runs.c.workflow_id, _runs.c.conversation_id, _runs.c.status.label("run_status"),
              _steps.c.status, _steps.c.lease_expires_at)
    .select_from(_runs.outerjoin(_steps, sa.and_(_steps.c.run_id == _runs.c.id,
                                                 _steps.c.step_index == sa.bindparam("step_index"))))
    .where(_runs.c.id == sa.bindparam("run_id"))
)


def handle_step(services: Services, data: Any) -> Reply:
    """Process one delivery of a step message."""
    message = parse_message(data)
    if message is None:
        return non_retryable("step message does not match {workflowId, runId, conversationId, stepIndex}")
    token = secrets.token_hex(16)
    claimed = _claim(services, message, token)
    if claimed is None:
        return _not_claimed(services, message)
    attempt, step = claimed
    return _execute(services, attempt, step)


def _claim(services: Services, message: StepMessage, token: str) -> tuple[Attempt, ClaimedStep] | None:
    """Claim the step; the run is running from its first claim."""
    now = services.clock()
    statement = _CLAIM if message.approval_id is None else _CLAIM_DECIDED
    row = connection().execute(statement, {
        "b_run_id": message.run_id, "b_step_index": message.step_index, "workflow_id": message.workflow_id,
        "conversation_id": message.conversation_id, "approval_id": message.approval_id, "token": token,
        "lease": runs.lease_until(services), "now": now,
    }).first()
    if row is None:
        return None
    started = row.run_started_at
    if row.run_status in (RunStatus.PENDING, RunStatus.AWAITING_APPROVAL):
        runs.mark_running(services, message.run_id)
        started = started if row.run_status == RunStatus.AWAITING_APPROVAL else now
    attempt = Attempt(message.run_id, row.id, message.step_index, message.workflow_id, message.conversation_id, token)
    step = ClaimedStep(row.tool_name, row.tool_input or {}, row.instruction, row.needs_approval,
                       row.effect_started_at, started, row.last_index == message.step_index)
    return attempt, step


def _not_claimed(services: Services, message: StepMessage) -> Reply:
    """Why the claim matched nothing, by the claim table: 489, 409 with Retry-After, or 200."""
    row = connection().execute(_STATE, {"run_id": message.run_id, "step_index": message.step_index}).first()
    db.session.rollback()
    if row is None or row.workflow_id != message.workflow_id or row.conversation_id != message.conversation_id:
        return non_retryable(f"no run {message.run_id} of workflow {message.workflow_id} with that conversation")
    if row.status is None:
        return non_retryable(f"run {message.run_id} has no step {message.step_index}")
    if row.status == StepStatus.COMPLETED:
        return _flush_completed(services, message.run_id, message.step_index)
    if row.run_status in RUN_FINISHED or row.status in DONE_STATES:
        return ok(f"nothing to do: run is {row.run_status.value}, step is {row.status.value}")
    if row.run_status == RunStatus.PAUSED_BUDGET:
        return ok("nothing to do: the cost guard paused the run until its owner resumes it")
    if row.status == StepStatus.AWAITING_APPROVAL:
        return ok("waiting for approval")
    now = services.clock()
    if row.status == StepStatus.RUNNING and row.lease_expires_at and row.lease_expires_at > now:
        return busy("step is running in another attempt", (row.lease_expires_at - now).total_seconds())
    # Not finished and not ours: a lease that ran out between the claim and this read, or a step
    # given back meanwhile. Ask QStash to come back: a 200 would drop the step's only message.
    return busy(f"step is {row.status.value}; try again", 1)


def _flush_completed(services: Services, run_id: int, step_index: int) -> Reply:
    """A redelivered completed step publishes whatever its completion left unsent."""
    ids = publishing.unsent_for_step(run_id, step_index)
    db.session.commit()
    problem = publishing.flush(services, ids) if ids else None
    if problem is not None:
        return unpublished("completed", problem)
    return ok("already completed")


# --- steps 2-6 for a claimed step ----------------------------------------------------------

@dataclass(frozen=True)
class Prepared:
    """The input the tool will run with, what preparing it cost, and the tool's context."""

    tool_input: dict[str, Any]
    decided: bool  # a person approved exactly this input
    usage: Usage
    call: dict | None  # the agent's tool call, for the conversation
    ctx: ToolContext


def _execute(services: Services, attempt: Attempt, step: ClaimedStep) -> Reply:
    """Prepare the input, then pause for approval or run the tool."""
    tool = get_tool(step.tool_name)
    if tool is None:
        return fail(services, attempt, step.tool_name, f"unknown tool {step.tool_name!r}")
    if tool.delivery == Delivery.AT_MOST_ONCE and step.effect_started_at is not None:
        where = OUTCOME_WHERE.get(tool.name, "the destination")
        return fail(services, attempt, tool.name,
                    f"outcome unknown — check {where}: an earlier attempt started and never reported back")
    prepared = _prepare(services, attempt, step, tool)
    if isinstance(prepared, Reply):
        return prepared
    if step.needs_approval and not prepared.decided:
        return propose(services, attempt, step, prepared.tool_input, prepared.usage)
    return _run_tool(services, attempt, step, tool, prepared)


def _prepare(services: Services, attempt: Attempt, step: ClaimedStep, tool: Tool) -> Prepared | Reply:
    """Step 3-4: the decided input verbatim, or the rendered input filled in by the agent.

    What the step must read is read here, in the claim's transaction, and only if it needs it;
    the transaction ends before any rendering or model call.
    """
    decision = latest_decision(attempt) if step.needs_approval else None
    decided_input = decision.decided_input if decision and decision.status == ApprovalStatus.APPROVED else None
    tool_input = decided_input if decided_input is not None else step.tool_input
    use_agent = decided_input is None and services.llm is not None and bool(step.instruction)
    needs_names = use_agent or references.has_templates(tool_input)
    goal, outputs = goal_and_outputs(attempt) if needs_names else ("", ())
    ctx = build_context(services, attempt, step, tool, goal, outputs)
    history = conversation.load(attempt.conversation_id) if use_agent else []
    # The cost guard reads in this transaction too, and only for a step that will call the model.
    calls_model = use_agent or (tool.uses_model and services.llm is not None)
    guard = cost_guard.read(services, attempt, step.tool_name) if calls_model else None
    db.session.commit()
    if decided_input is not None:  # verbatim: no rendering, no agent, on every retry
        refused = guard and guard.refusal(tool, decided_input)
        if refused:
            return pause_for_budget(services, attempt, guard, refused)
        return Prepared(decided_input, True, Usage(), None, ctx)
    try:
        tool_input = references.render_input(tool, step.tool_input, references.namespace(ctx))
    except ToolError as exc:
        return fail(services, attempt, tool.name, str(exc))
    refused = guard and guard.refusal(tool, tool_input, goal=goal, instruction=step.instruction,
                                      history=history, agent=use_agent)
    if refused:
        return pause_for_budget(services, attempt, guard, refused)
    usage, call = Usage(), None
    if use_agent:
        filled = _fill_with_agent(services, attempt, step, tool, goal, tool_input, history, decision)
        if isinstance(filled, Reply):
            return filled
        tool_input, usage, call = filled
    problems = validate_input(tool, tool_input, partial=False)
    if problems:
        detail = "; ".join(f"{field} {message}" for field, message in problems)
        return fail(services, attempt, tool.name, f"invalid input: {detail}")
    return Prepared(tool_input, False, usage, call, ctx)


def _fill_with_agent(services: Services, attempt: Attempt, step: ClaimedStep, tool: Tool, goal: str,
                     tool_input: dict, history: list[dict], decision: Decision | None) -> tuple | Reply:
    """One forced tool call fills what the input leaves empty; a sent-back proposal comes with its feedback."""
    from workflows.integrations.agent import AgentFailure, AgentRetry, fill_with_agent

    revise = decision is not None and decision.status == ApprovalStatus.REVISE
    try:
        return fill_with_agent(
            services.llm, goal=goal, tool=tool, step_index=attempt.step_index, instruction=step.instruction,
            fixed_input=tool_input, conversation=history, feedback=decision.feedback if revise else None,
            previous_proposal=decision.proposed_input if revise else None,
        )
    except AgentRetry as exc:
        return release(services, attempt, str(exc), exc.retry_after, exc.messages, exc.usage)
    except AgentFailure as exc:
        return fail(services, attempt, tool.name, str(exc))


def _run_tool(services: Services, attempt: Attempt, step: ClaimedStep, tool: Tool, prepared: Prepared) -> Reply:
    """Step 5-6: run the tool outside any transaction, then commit its result."""
    if tool.delivery == Delivery.AT_MOST_ONCE:
        # Committed before the call: a takeover after this point must not post again.
        if not mark_effect_started(services, attempt):
            return ok("claim lost: a newer attempt owns this step")
    try:
        result = tool.run(prepared.tool_input, prepared.ctx)
    except RetryableToolError as exc:
        # A tool raises this only when its effect certainly did not happen.
        return release(services, attempt, str(exc), exc.retry_after, effect_never_started=True)
    except ToolError as exc:
        return fail(services, attempt, tool.name, str(exc), effect_never_started=exc.nothing_done)
    except Exception as exc:  # a bug in a tool: retry, and leave a trace in the log
        log.exception("tool %s crashed on run %s step %s", tool.name, attempt.run_id, attempt.step_index)
        return release(services, attempt, f"internal error in {tool.name}: {exc}", None)
    return complete(services, attempt, step, prepared.tool_input, result, prepared.usage + result.usage,
                    prepared.call)
