"""Emails are rows first: written in the transaction that decides them, sent after commit.

The dedup key is unique, so a step that is delivered twice writes its email once.
"""
from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from extensions import db
from models import Outbox
from workflows.ports import Services


def queue_email(dedup_key: str, to: str, subject: str, text: str, html: str | None = None,
                user_id: int | None = None) -> bool:
    """Add an outbox row unless one with this key exists; True when added."""
    exists = db.session.scalar(sa.select(Outbox.id).where(Outbox.dedup_key == dedup_key))
    if exists is not None:
        return False
    db.session.add(Outbox(to=to, subject=subject[:300], text=text, html=html,
                          dedup_key=dedup_key, user_id=user_id))
    return True


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def queue_approval_request(services: Services, approval_id: int, step_index: int, tool_name: str,
                           proposed_input: dict, expires_at: datetime, owner_email: str, goal: str) -> None:
    """Ask the owner to decide a step."""
    link = services.url("/approvals")
    text = (
        f"Stepwise wants to run step {step_index + 1} ({tool_name}) of your workflow\n"
        f"“{goal}”.\n\nIt would run with this input:\n\n{_pretty(proposed_input)}\n\n"
        f"Approve, edit, request changes or reject it here: {link}\n"
        f"This request expires at {expires_at:%Y-%m-%d %H:%M} UTC."
    )
    queue_email(f"approval-{approval_id}-request", owner_email,
                f"Approval needed: {tool_name} for “{goal[:80]}”", text)


def queue_approval_reminder(services: Services, approval_id: int, step_index: int, tool_name: str,
                            expires_at: datetime, owner_email: str, goal: str) -> bool:
    """Remind the owner once, when a quarter of the approval's lifetime is left."""
    text = (
        f"Step {step_index + 1} ({tool_name}) of “{goal}” still waits for you.\n"
        f"It expires at {expires_at:%Y-%m-%d %H:%M} UTC: {services.url('/approvals')}"
    )
    return queue_email(f"approval-{approval_id}-reminder", owner_email,
                       f"Reminder: approval needed for “{goal[:80]}”", text)


def queue_run_failed(services: Services, run_id: int, owner_email: str, goal: str, error: str) -> None:
    """Tell the owner a run failed and why."""
    text = (
        f"Run #{run_id} of your workflow “{goal}” failed.\n\n{error}\n\n"
        f"Details: {services.url('/')}"
    )
    queue_email(f"run-{run_id}-failed", owner_email, f"Run failed: “{goal[:80]}”", text)
