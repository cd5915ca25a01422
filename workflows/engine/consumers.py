"""Consumers beside the step: schedule ticks, the failure callback, and the minute sweep."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Approval, ApprovalStatus, Workflow
from workflows.encoding import b64decode, loads_strict
from workflows.engine import outbox, publishing, runs, schedules, sending
from workflows.engine.attempt import connection, unclaimed
from workflows.engine.delivery import parse_message
from workflows.engine.outcomes import fail
from workflows.engine.replies import Reply, non_retryable, ok
from workflows.errors import DomainError, NotFound
from workflows.integrations import accounts
from workflows.ports import Services

_workflows = Workflow.__table__
_SCHEDULE = sa.select(_workflows.c.schedule, _workflows.c.timezone).where(
    _workflows.c.id == sa.bindparam("workflow_id"))


def handle_trigger(services: Services, data: Any, message_id: str | None,
                   schedule_header: str | None = None) -> Reply:
    """A schedule tick: one run per tick, under the workflow's overlap policy."""
    if not isinstance(data, dict) or not isinstance(data.get("workflowId"), str):
        return non_retryable("trigger body must be {\"workflowId\": \"...\"}")
    workflow_id = data["workflowId"]
    workflow = connection().execute(_SCHEDULE, {"workflow_id": workflow_id}).first()
    if workflow is None:
        db.session.rollback()
        _delete_orphan(services, workflow_id, schedule_header)
        return non_retryable(f"workflow {workflow_id} not found")
    if not workflow.schedule:
        db.session.rollback()
        return ok("workflow has no schedule")
    tick = schedules.tick_time(workflow.schedule, workflow.timezone, services.clock())
    try:
        run, outcome = runs.start_scheduled(services, workflow_id, message_id, tick)
    except NotFound as exc:
        return non_retryable(exc.message)
    return ok(outcome, runId=run.id if run is not None else None)


def _delete_orphan(services: Services, workflow_id: str, schedule_header: str | None) -> None:
    """A tick of a workflow that does not exist (its creation failed after QStash had the schedule,
    or its deletion did): delete that schedule, so it stops firing."""
    sid = schedules.schedule_id(workflow_id)
    if schedule_header == sid:
        try:
            services.queue.delete_schedule(sid)
        except DomainError:
            pass  # QStash is failing; the next tick tries again


def _decode(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return b64decode(value).decode("utf-8", "replace")
    except ValueError:
        return value


def handle_failure(services: Services, data: Any) -> Reply:
    """Retries exhausted: fail the step and the run unless the step completed, and tell the owner."""
    if not isinstance(data, dict):
        return non_retryable("failure callback body must be a JSON object")
    try:
        source = loads_strict(_decode(data.get("sourceBody")))
    except ValueError:
        source = None
    message = parse_message(source)
    if message is None:
        return ok("not a step message; nothing to do")
    if publishing.followed_by_another(message.workflow_id, message.run_id, message.step_index,
                                      data.get("sourceMessageId")):
        db.session.rollback()
        return ok("a later message runs this step; nothing to do")
    found = unclaimed(message.run_id, message.step_index)
    if found is None or found[0].workflow_id != message.workflow_id:
        db.session.rollback()
        return ok("unknown run or step; nothing to do")
    attempt, tool_name = found
    answer = _decode(data.get("body"))[:500]
    detail = (f"gave up after {data.get('retried', '?')} retries; "
              f"last answer {data.get('status', '?')}: {answer}").strip()
    return fail(services, attempt, tool_name, detail)


def sweep(services: Services) -> dict[str, int]:
    """Every minute: publish what a crash left unsent, bring QStash's schedules in line where a change
    or a cost guard's pause left them marked, send reminders, retry emails, prune old rows, refresh
    statistics."""
    sent, failing = publishing.flush_stale(services)
    repaired = schedules.repair_changes(services)
    reminded = _remind(services)
    mailed, unsent = sending.retry_due(services)
    pruned = publishing.prune_sent(services)
    accounts.prune_sessions(services.clock())
    _refresh_statistics()
    return {"published": sent, "publishFailures": failing, "schedulesRepaired": repaired,
            "reminders": reminded, "emailsSent": mailed, "emailsUnsent": unsent, "pruned": pruned}


def _refresh_statistics() -> None:
    """SQLite's PRAGMA optimize: re-analyzes only the tables whose statistics went stale, so the
    lists keep their index plans as tables grow. PostgreSQL's autovacuum does this itself."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("PRAGMA optimize"))
        db.session.commit()


def _remind(services: Services) -> int:
    """A reminder email when a quarter of an approval's lifetime is left (once)."""
    now = services.clock()
    quarter = timedelta(hours=services.settings.approval_ttl_hours / 4)
    due = db.session.scalars(
        sa.select(Approval).where(
            Approval.status == ApprovalStatus.PENDING,
            Approval.reminder_sent_at.is_(None),
            Approval.expires_at <= now + quarter,
            Approval.expires_at > now,
        ).limit(200)
    ).all()
    count = 0
    for approval in due:
        marked = db.session.execute(
            sa.update(Approval).where(Approval.id == approval.id, Approval.reminder_sent_at.is_(None))
            .values(reminder_sent_at=now)
        ).rowcount
        if marked:
            outbox.queue_approval_reminder(services, approval.id)
            count += 1
    sending.commit_and_send(services)
    return count
