"""The guarded commits that end a step attempt (docs/architecture.md, *The step lifecycle*, 4 and 6).

Each one is a single transaction that first updates the step WHERE its claim token is still
ours: an attempt that lost its lease to a takeover changes nothing. Publishes are queued as
`PendingPublish` rows in the same transaction and flushed only after the commit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Approval, Asset, Message, Run, RunStatus, RunStep, StepStatus
from workflows.engine import outbox, publishing, runs
from workflows.ports import Services
from workflows.tools.base import ToolResult
from workflows.usage import Usage


@dataclass
class Reply:
    """What the consumer answers QStash: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def ok(message: str, **extra: Any) -> Reply:
    return Reply(200, {"status": message, **extra})


def _guarded(step_id: int, token: str, **values: Any) -> bool:
    """Update our claimed step; False when the claim is no longer ours."""
    result = db.session.execute(
        sa.update(RunStep)
        .where(RunStep.id == step_id, RunStep.claim_token == token)
        .values(**values)
    )
    return result.rowcount == 1


def _add_usage(run_id: int, usage: Usage) -> None:
    if usage == Usage():
        return
    db.session.execute(
        sa.update(Run).where(Run.id == run_id).values(
            prompt_tokens=Run.prompt_tokens + usage.prompt_tokens,
            completion_tokens=Run.completion_tokens + usage.completion_tokens,
            cost_usd=Run.cost_usd + usage.cost_usd,
        )
    )


def _usage_values(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": RunStep.prompt_tokens + usage.prompt_tokens,
        "completion_tokens": RunStep.completion_tokens + usage.completion_tokens,
        "cost_usd": RunStep.cost_usd + usage.cost_usd,
    }


def append_messages(conversation_id: str, step_index: int, messages: list[dict[str, Any]]) -> None:
    """Append messages to the run's conversation, in order."""
    position = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(Message.position), -1)).where(
            Message.conversation_id == conversation_id
        )
    )
    for offset, message in enumerate(messages, start=1):
        db.session.add(
            Message(
                conversation_id=conversation_id,
                position=position + offset,
                role=message["role"],
                content=message.get("content"),
                tool_calls=message.get("tool_calls"),
                tool_call_id=message.get("tool_call_id"),
                step_index=step_index,
            )
        )


def tool_exchange(step: RunStep, tool_input: dict, output: Any, call: dict | None) -> list[dict]:
    """The assistant's tool call and the tool's result, as conversation messages.

    Without an agent the call is synthetic, so a later agent step still sees what ran.
    """
    if call is None:
        call = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{
                "id": f"call_step_{step.step_index}",
                "type": "function",
                "function": {"name": step.tool_name, "arguments": json.dumps(tool_input)},
            }],
        }
    call_id = call["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": call_id, "content": json.dumps(output)[:100_000]}
    return [call, result]


def complete(services: Services, run: Run, step: RunStep, token: str, tool_input: dict,
             result: ToolResult, usage: Usage, call: dict | None) -> Reply:
    """Step 6: output, assets, conversation, tokens, `completed`, and the next step's publish."""
    now = services.clock()
    if not _guarded(step.id, token, status=StepStatus.COMPLETED, input=tool_input, output=result.output,
                    error=None, finished_at=now, claim_token=None, lease_expires_at=None,
                    **_usage_values(usage)):
        db.session.rollback()
        return ok("claim lost: a newer attempt owns this step")
    for asset in result.assets:
        db.session.add(Asset(run_id=run.id, step_index=step.step_index, kind=asset.kind,
                             title=asset.title[:200], content=asset.content, mime_type=asset.mime_type))
    dedup_id = publishing.step_dedup_id(run.workflow_id, run.id, step.step_index)
    for number, email in enumerate(result.emails):
        key = dedup_id if number == 0 else f"{dedup_id}-{number}"
        outbox.queue_email(key, email.to, email.subject, email.text, email.html, user_id=run.workflow.owner_id)
    append_messages(run.conversation_id, step.step_index, tool_exchange(step, tool_input, result.output, call))
    _add_usage(run.id, usage)

    last = step.step_index + 1 >= len(run.steps)
    if last:
        if runs.finish(services, run, RunStatus.COMPLETED, from_states=(RunStatus.RUNNING,)):
            outbox.queue_run_completed(services, run)
    else:
        alive = db.session.execute(
            sa.update(Run).where(Run.id == run.id, Run.status == RunStatus.RUNNING)
            .values(status=RunStatus.RUNNING)
        ).rowcount
        if alive:  # a run cancelled while this step ran publishes nothing after it
            publishing.queue_step(services, run, step.step_index + 1, source_step=step.step_index)
    return _flushed(services, "completed")


def _flushed(services: Services, status: str) -> Reply:
    """Commit and flush what this step queued; a failure asks QStash to redeliver, which flushes again."""
    if not publishing.commit_and_flush(services):
        return Reply(503, {"status": status, "error": "QStash unreachable; will flush on redelivery"},
                     {"Retry-After": "5"})
    return ok(status)


def propose(services: Services, run: Run, step: RunStep, token: str, tool_input: dict,
            usage: Usage, owner_email: str, goal: str) -> Reply:
    """Step 5: store the approval, pause step and run, queue the email and the expiry."""
    now = services.clock()
    if not _guarded(step.id, token, status=StepStatus.AWAITING_APPROVAL, input=tool_input,
                    claim_token=None, lease_expires_at=None, error=None, **_usage_values(usage)):
        db.session.rollback()
        return ok("claim lost: a newer attempt owns this step")
    _add_usage(run.id, usage)
    paused = db.session.execute(
        sa.update(Run).where(Run.id == run.id, Run.status == RunStatus.RUNNING)
        .values(status=RunStatus.AWAITING_APPROVAL)
    ).rowcount
    if not paused:  # cancelled meanwhile: nothing to ask
        db.session.execute(sa.update(RunStep).where(RunStep.id == step.id)
                           .values(status=StepStatus.CANCELLED, finished_at=now))
        db.session.commit()
        return ok("run is no longer running")
    approval = Approval(
        run_step_id=step.id, run_id=run.id, proposed_input=tool_input, created_at=now,
        expires_at=now + timedelta(hours=services.settings.approval_ttl_hours),
    )
    db.session.add(approval)
    db.session.flush()
    outbox.queue_approval_request(services, approval, step, owner_email, goal)
    publishing.queue_expiry(services, run, approval, step.step_index)
    return _flushed(services, "awaiting_approval")


def fail(services: Services, run: Run, step: RunStep, token: str | None, message: str,
         owner_email: str, goal: str, call_messages: list[dict] | None = None) -> Reply:
    """A failure no retry can change: step and run `failed` now, later steps skipped, owner told."""
    now = services.clock()
    values = dict(status=StepStatus.FAILED, error=message[:4000], finished_at=now,
                  claim_token=None, lease_expires_at=None)
    if token is not None:
        if not _guarded(step.id, token, **values):
            db.session.rollback()
            return ok("claim lost: a newer attempt owns this step")
    elif not db.session.execute(
        sa.update(RunStep).where(
            RunStep.id == step.id,
            RunStep.status.in_([StepStatus.PENDING.value, StepStatus.RUNNING.value]),
        ).values(**values)
    ).rowcount:
        db.session.rollback()
        return ok(f"step is already {step.status}")
    if call_messages:
        append_messages(run.conversation_id, step.step_index, call_messages)
    runs.skip_steps_after(run.id, step.step_index)
    error = f"step {step.step_index + 1} ({step.tool_name}) failed: {message}"
    if runs.finish(services, run, RunStatus.FAILED, error=error[:4000]):
        outbox.queue_run_failed(services, run, owner_email, goal, error)
    return _flushed(services, "failed")


def release(services: Services, step: RunStep, token: str, message: str,
            retry_after: float | None, call_messages: list[dict] | None = None,
            usage: Usage | None = None, effect_never_started: bool = False) -> Reply:
    """A retryable failure: give the claim back and let QStash retry with backoff.

    `effect_never_started`: an at-most-once tool said nothing reached the other side, so the
    next attempt may try again instead of failing "outcome unknown".
    """
    usage = usage or Usage()
    extra = {"effect_started_at": None} if effect_never_started else {}
    if _guarded(step.id, token, status=StepStatus.PENDING, claim_token=None,
                lease_expires_at=None, error=message[:4000], **extra, **_usage_values(usage)):
        _add_usage(step.run_id, usage)
        if call_messages:
            append_messages(step.run.conversation_id, step.step_index, call_messages)
        db.session.commit()
    else:
        db.session.rollback()
    headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))} if retry_after else {}
    return Reply(503, {"status": "retry", "error": message}, headers)
