"""The guarded commits that end a step attempt (docs/architecture.md, *The step lifecycle*, 5 and 6).

Each one is a single transaction that first updates the step WHERE its claim token is still
the attempt's: an attempt that lost its lease to a takeover changes nothing. Publishes are
queued as `PendingPublish` rows in the same transaction and published only after the commit.
The run's own status changes through `runs`, the only module that writes it.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Approval, Asset, RunStatus, RunStep, StepStatus, UTCDateTime, owner_of_run
from workflows.engine import conversation, cost_guard, outbox, publishing, runs, schedules
from workflows.engine.attempt import Attempt, ClaimedStep, connection, owner_id
from workflows.engine.replies import Reply, ok, retry_later, unpublished
from workflows.ports import Services
from workflows.tools.base import ToolResult
from workflows.usage import Usage

_steps, _assets, _approvals = RunStep.__table__, Asset.__table__, Approval.__table__
_NOW = sa.bindparam("now", type_=UTCDateTime())
_OURS = sa.and_(_steps.c.id == sa.bindparam("step_id"), _steps.c.claim_token == sa.bindparam("token"))
_OPEN = sa.and_(_steps.c.id == sa.bindparam("step_id"),
                _steps.c.status.in_([StepStatus.PENDING.value, StepStatus.RUNNING.value]))
_USAGE = {
    "prompt_tokens": _steps.c.prompt_tokens + sa.bindparam("b_prompt_tokens"),
    "completion_tokens": _steps.c.completion_tokens + sa.bindparam("b_completion_tokens"),
    "cost_usd": _steps.c.cost_usd + sa.bindparam("b_cost_usd"),
}
_RELEASED = dict(claim_token=None, lease_expires_at=None)
_COMPLETE = sa.update(_steps).where(_OURS).values(
    status=StepStatus.COMPLETED, input=sa.bindparam("step_input", type_=_steps.c.input.type),
    output=sa.bindparam("step_output", type_=_steps.c.output.type), error=None, finished_at=_NOW,
    **_RELEASED, **_USAGE)
_PROPOSE = sa.update(_steps).where(_OURS).values(
    status=StepStatus.AWAITING_APPROVAL, input=sa.bindparam("step_input", type_=_steps.c.input.type),
    error=None, **_RELEASED, **_USAGE)
_CANCELLED = sa.update(_steps).where(_steps.c.id == sa.bindparam("step_id")).values(
    status=StepStatus.CANCELLED, finished_at=_NOW)
_FAIL_VALUES = dict(status=StepStatus.FAILED, error=sa.bindparam("message", type_=sa.Text()), finished_at=_NOW,
                    **_RELEASED)
_FAIL_OURS = sa.update(_steps).where(_OURS).values(**_FAIL_VALUES)
_FAIL_OURS_UNSTARTED = _FAIL_OURS.values(effect_started_at=None)
_FAIL_OPEN = sa.update(_steps).where(_OPEN).values(**_FAIL_VALUES)
_RELEASE = sa.update(_steps).where(_OURS).values(
    status=StepStatus.PENDING, error=sa.bindparam("message", type_=sa.Text()), **_RELEASED, **_USAGE)
_RELEASE_UNSTARTED = _RELEASE.values(effect_started_at=None)
_EFFECT_STARTED = sa.update(_steps).where(_OURS).values(effect_started_at=_NOW)
# The cost guard stopped the attempt before it began: the claim is given back as if never taken
# (every SET reads the row as it was, so `attempts = 1` means this was the first claim).
_GIVE_BACK = sa.update(_steps).where(_OURS).values(
    status=StepStatus.PENDING, attempts=_steps.c.attempts - 1,
    started_at=sa.case((_steps.c.attempts == 1, None), else_=_steps.c.started_at), **_RELEASED)
_INSERT_ASSET = sa.insert(_assets).values(
    run_id=sa.bindparam("b_run_id"), step_index=sa.bindparam("b_step_index"), kind=sa.bindparam("b_kind"),
    title=sa.bindparam("b_title"), content=sa.bindparam("b_content"), mime_type=sa.bindparam("b_mime_type"),
    created_at=_NOW)
_INSERT_APPROVAL = sa.insert(_approvals).values(
    run_step_id=sa.bindparam("step_id"), run_id=sa.bindparam("b_run_id"),
    owner_id=owner_of_run(sa.bindparam("b_run_id")), status="pending",
    proposed_input=sa.bindparam("proposed", type_=_approvals.c.proposed_input.type), created_at=_NOW,
    expires_at=sa.bindparam("expires", type_=UTCDateTime()),
).returning(_approvals.c.id)


def _guarded(statement: sa.Update, attempt: Attempt, **params: Any) -> bool:
    """Run a step UPDATE guarded by the attempt's claim; False when the claim is no longer ours."""
    return connection().execute(statement, {"step_id": attempt.step_id, "token": attempt.token, **params}).rowcount == 1


def _usage(usage: Usage) -> dict[str, Any]:
    return {"b_prompt_tokens": usage.prompt_tokens, "b_completion_tokens": usage.completion_tokens,
            "b_cost_usd": usage.cost_usd}


def _claim_lost() -> Reply:
    db.session.rollback()
    return ok("claim lost: a newer attempt owns this step")


def complete(services: Services, attempt: Attempt, step: ClaimedStep, tool_input: dict, result: ToolResult,
             usage: Usage, call: dict | None) -> Reply:
    """Step 6: output, assets, conversation, tokens, `completed`, and the next step's publish."""
    now = services.clock()
    if not _guarded(_COMPLETE, attempt, step_input=tool_input, step_output=result.output, now=now, **_usage(usage)):
        return _claim_lost()
    if result.assets:
        connection().execute(_INSERT_ASSET, [{
            "b_run_id": attempt.run_id, "b_step_index": attempt.step_index, "b_kind": a.kind,
            "b_title": a.title[:200], "b_content": a.content, "b_mime_type": a.mime_type, "now": now}
            for a in result.assets])
    for number, email in enumerate(result.emails):
        key = attempt.dedup_id if number == 0 else f"{attempt.dedup_id}-{number}"
        outbox.queue_email(key, email.to, email.subject, email.text, email.html,
                           user_id=owner_id(attempt.workflow_id))
    conversation.append(attempt, conversation.tool_exchange(
        attempt.step_index, step.tool_name, tool_input, result.output, call), now)
    runs.add_usage(attempt.run_id, usage)
    if step.is_last:
        if runs.finish(services, attempt.run_id, attempt.workflow_id, RunStatus.COMPLETED, from_running=True):
            outbox.queue_run_completed(services, attempt.run_id)
    elif runs.hold_running(attempt.run_id):  # a run cancelled while this step ran publishes nothing after it
        publishing.queue_step(services, attempt.workflow_id, attempt.run_id, attempt.conversation_id,
                              attempt.step_index + 1, source_step=attempt.step_index)
    return _flushed(services, "completed")


def _flushed(services: Services, status: str) -> Reply:
    """Commit and publish what this step queued; a failure asks QStash to redeliver, which publishes again."""
    problem = publishing.commit_and_flush(services)
    if problem is not None:
        return unpublished(status, problem)
    return ok(status)


def propose(services: Services, attempt: Attempt, step: ClaimedStep, tool_input: dict, usage: Usage) -> Reply:
    """Step 5: store the approval, pause step and run, queue the email and the expiry."""
    now = services.clock()
    if not _guarded(_PROPOSE, attempt, step_input=tool_input, **_usage(usage)):
        return _claim_lost()
    runs.add_usage(attempt.run_id, usage)
    if not runs.pause_for_approval(attempt.run_id):  # cancelled meanwhile: nothing to ask
        connection().execute(_CANCELLED, {"step_id": attempt.step_id, "now": now})
        db.session.commit()
        return ok("run is no longer running")
    expires_at = now + timedelta(hours=services.settings.approval_ttl_hours)
    approval_id = connection().execute(_INSERT_APPROVAL, {
        "step_id": attempt.step_id, "b_run_id": attempt.run_id, "proposed": tool_input, "now": now,
        "expires": expires_at}).scalar_one()
    outbox.queue_approval_request(services, approval_id)
    publishing.queue_expiry(services, attempt.workflow_id, attempt.run_id, attempt.step_index, approval_id,
                            expires_at)
    return _flushed(services, "awaiting_approval")


def fail(services: Services, attempt: Attempt, tool_name: str, message: str,
         call_messages: list[dict] | None = None, effect_never_started: bool = False) -> Reply:
    """A failure no retry can change: step and run `failed` now, later steps skipped, owner told.

    Without a claim token (the failure callback) only a pending or running step is failed.
    `effect_never_started`: an at-most-once tool is certain nothing happened, so retrying the run
    needs no one to check the destination first.
    """
    now = services.clock()
    params = {"message": message[:4000], "now": now}
    if attempt.token is not None:
        statement = _FAIL_OURS_UNSTARTED if effect_never_started else _FAIL_OURS
        if not _guarded(statement, attempt, **params):
            return _claim_lost()
    elif not _guarded(_FAIL_OPEN, attempt, **params):
        db.session.rollback()
        return ok("step already finished; nothing to fail")
    conversation.append(attempt, call_messages or [], now)
    runs.skip_steps_after(attempt.run_id, attempt.step_index)
    error = f"step {attempt.step_index + 1} ({tool_name}) failed: {message}"[:4000]
    if runs.finish(services, attempt.run_id, attempt.workflow_id, RunStatus.FAILED, error=error):
        outbox.queue_run_failed(services, attempt.run_id, error)
    return _flushed(services, "failed")


def release(services: Services, attempt: Attempt, message: str, retry_after: float | None,
            call_messages: list[dict] | None = None, usage: Usage | None = None,
            effect_never_started: bool = False) -> Reply:
    """A retryable failure: give the claim back and let QStash retry with backoff.

    `effect_never_started`: an at-most-once tool said nothing reached the other side, so the
    next attempt may try again instead of failing "outcome unknown".
    """
    usage = usage or Usage()
    statement = _RELEASE_UNSTARTED if effect_never_started else _RELEASE
    if _guarded(statement, attempt, message=message[:4000], **_usage(usage)):
        runs.add_usage(attempt.run_id, usage)
        conversation.append(attempt, call_messages or [], services.clock())
        db.session.commit()
    else:
        db.session.rollback()
    return retry_later(message, retry_after, status="retry")


def mark_effect_started(services: Services, attempt: Attempt) -> bool:
    """Commit the effect-started time before an at-most-once call; False when the claim was lost."""
    done = _guarded(_EFFECT_STARTED, attempt, now=services.clock())
    db.session.commit()
    return done


def pause_for_budget(services: Services, attempt: Attempt, guard: cost_guard.Guard, reason: str) -> Reply:
    """The cost guard said no: the claim given back uncharged, run `paused_budget`, workflow paused,
    owner told once. Answers 200, so QStash does not deliver the step again: the owner's Resume does."""
    if not _guarded(_GIVE_BACK, attempt):
        return _claim_lost()
    if not runs.pause_for_budget(services, attempt.run_id, attempt.workflow_id, reason):
        connection().execute(_CANCELLED, {"step_id": attempt.step_id, "now": services.clock()})
        db.session.commit()
        return ok("run is no longer running")
    mark = cost_guard.pause_workflow(services, guard, attempt.run_id, reason)
    publishing.commit_and_flush(services)  # a publish that fails is the sweep's: the run is paused anyway
    if mark is not None:  # QStash's schedule paused after the commit; if it fails, by the sweep
        schedules.settle(services, attempt.workflow_id, mark)
    return ok("paused_budget")
