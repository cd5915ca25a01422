"""Emails are rows first: written in the transaction that decides them, sent after commit.

The dedup key is unique, so a step that is delivered twice writes its email once. Each email is
rendered from a pair of templates, `templates/email/<name>.txt` and `.html`; times are shown in
the recipient's zone (their setting, else UTC). Sending is `workflows/engine/sending.py`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from extensions import db
from models import Approval, Outbox, Run, User, Workflow
from workflows.authoring import changes
from workflows.authoring.proposals import present, superseded_at, time_left
from workflows.integrations import signed_links
from workflows.ports import Services

QUEUED_KEY = "stepwise_emails"  # session.info: rows this transaction added, sent after commit


def queue_email(dedup_key: str, to: str, subject: str, text: str, html: str | None = None,
                user_id: int | None = None) -> bool:
    """Add an outbox row unless one with this key exists; True when added."""
    exists = db.session.scalar(sa.select(Outbox.id).where(Outbox.dedup_key == dedup_key))
    if exists is not None:
        return False
    row = Outbox(to=to, subject=subject[:300], text=text, html=html, dedup_key=dedup_key, user_id=user_id)
    db.session.add(row)
    db.session.info.setdefault(QUEUED_KEY, []).append(row)
    return True


def queue_rendered(dedup_key: str, user: User, template: str, subject: str, to: str | None = None,
                   **context: Any) -> bool:
    """Render `templates/email/<template>.txt|.html` for `user` and queue it (to their notify address)."""
    zone = _zone(user)
    context.update(user=user, subject=subject, when=lambda value: _when(value, zone))
    # The app's Jinja environment without its context processors: no request, no logged-in user.
    env = current_app.jinja_env
    text = env.get_template(f"email/{template}.txt").render(**context)
    html = env.get_template(f"email/{template}.html").render(**context)
    return queue_email(dedup_key, to or user.notify_address, subject, text, html, user_id=user.id)


def _zone(user: User) -> ZoneInfo:
    try:
        return ZoneInfo(user.timezone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _when(value: datetime, zone: ZoneInfo) -> str:
    local = value.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def approval_link(services: Services, approval_id: int) -> str:
    """The emailed link that shows (GET) and decides (POST) one approval."""
    token = signed_links.make(services.settings.secret_key, signed_links.APPROVAL, {"a": approval_id})
    return services.url(f"/approvals/{token}")


def _approval_context(services: Services, approval: Approval) -> dict[str, Any]:
    step, run = approval.run_step, approval.run
    now = services.clock()
    return {
        "goal": run.workflow.goal, "step": step, "approval": approval,
        "proposal": present(step.tool_name, approval.proposed_input),
        "changes": changes.for_approval(approval),
        "supersede_at": superseded_at(run.workflow, run.id, approval.expires_at, now),
        "time_left": time_left(approval.expires_at, now),
        "link": approval_link(services, approval.id),
        "inbox": services.url("/approvals"),
        "workflow_link": services.url(f"/workflows/{run.workflow_id}"),
        "run_link": services.url(f"/runs/{run.id}"),
    }


def queue_approval_request(services: Services, approval_id: int) -> None:
    """Ask the owner to decide a step (to their verified notification address, else their email)."""
    approval = db.session.get(Approval, approval_id)
    owner, goal = approval.run.workflow.owner, approval.run.workflow.goal
    queue_rendered(f"approval-{approval.id}-request", owner, "approval_request",
                   f"Approval needed: {approval.run_step.tool_name} for “{goal[:80]}”",
                   **_approval_context(services, approval))


def queue_approval_reminder(services: Services, approval_id: int) -> bool:
    """Remind the owner once, when a quarter of the approval's lifetime is left."""
    approval = db.session.get(Approval, approval_id)
    owner, goal = approval.run.workflow.owner, approval.run.workflow.goal
    return queue_rendered(f"approval-{approval.id}-reminder", owner, "approval_reminder",
                          f"Reminder: approval needed for “{goal[:80]}”",
                          **_approval_context(services, approval))


def queue_run_failed(services: Services, run_id: int, error: str) -> None:
    """Tell the owner a run failed and why (unless they turned failure emails off)."""
    run = db.session.get(Run, run_id)
    owner, goal = run.workflow.owner, run.workflow.goal
    if not owner.notify_on_failure:
        return
    # A retried run that fails again is news again: one email per try.
    key = f"run-{run.id}-failed" + (f"-retry-{run.retry_count}" if run.retry_count else "")
    queue_rendered(key, owner, "run_failed", f"Run failed: “{goal[:80]}”",
                   run=run, goal=goal, error=error,
                   run_link=services.url(f"/runs/{run.id}"), settings_link=services.url("/settings"))


_WANTS_COMPLETION_EMAIL = (
    sa.select(User.notify_on_completion).join(Workflow, Workflow.owner_id == User.id)
    .join(Run, Run.workflow_id == Workflow.id).where(Run.id == sa.bindparam("run_id"))
)


def queue_run_completed(services: Services, run_id: int) -> None:
    """Tell the owner a run completed, when they asked for it in Settings (one SELECT when not)."""
    if not db.session.execute(_WANTS_COMPLETION_EMAIL, {"run_id": run_id}).scalar():
        return
    run = db.session.get(Run, run_id)
    workflow = run.workflow
    queue_rendered(f"run-{run.id}-completed", workflow.owner, "run_completed",
                   f"Run completed: “{workflow.goal[:80]}”", run=run, goal=workflow.goal,
                   run_link=services.url(f"/runs/{run.id}"), settings_link=services.url("/settings"))


def queue_budget_paused(services: Services, key: str, workflow_id: str, run_id: int, reason: str) -> None:
    """Tell the owner the cost guard paused the workflow (once per `key`), with a link to raise the budget."""
    workflow = db.session.get(Workflow, workflow_id)
    queue_rendered(key, workflow.owner, "budget_paused", f"Paused by the cost guard: “{workflow.goal[:80]}”",
                   goal=workflow.goal, run_id=run_id, reason=reason,
                   workflow_link=services.url(f"/workflows/{workflow_id}"))
