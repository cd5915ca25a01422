"""Owned reads: every "the caller's workflow, run or approval, else NotFound" and every list.

All of them go through `_owned`, one join to the workflow's owner, so another user's object is
indistinguishable from a missing one (404), and `?status=` is checked in one place.
"""
from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, selectinload

from extensions import db
from models import Approval, ApprovalStatus, Run, RunStatus, Workflow
from workflows.authoring.pagination import Page, paginate
from workflows.errors import Invalid, NotFound

Row = TypeVar("Row", Workflow, Run, Approval)


def _owned(model: type[Row], owner_id: int) -> sa.Select:
    """SELECT `model` rows whose workflow belongs to `owner_id` (one join per level)."""
    query = sa.select(model)
    if model is Approval:
        query = query.join(Run, Run.id == Approval.run_id)
    if model is not Workflow:
        query = query.join(Workflow, Workflow.id == Run.workflow_id)
    return query.where(Workflow.owner_id == owner_id)


def _one(model: type[Row], owner_id: int, object_id: object, name: str) -> Row:
    row = db.session.scalar(_owned(model, owner_id).where(model.id == object_id))
    if row is None:
        raise NotFound(f"{name} {object_id} not found")
    return row


def get_workflow(owner_id: int, workflow_id: str) -> Workflow:
    """The owner's workflow, or NotFound."""
    return _one(Workflow, owner_id, workflow_id, "workflow")


def get_run(owner_id: int, run_id: int) -> Run:
    """The owner's run, or NotFound."""
    return _one(Run, owner_id, run_id, "run")


def get_approval(owner_id: int, approval_id: int) -> Approval:
    """The owner's approval, or NotFound."""
    return _one(Approval, owner_id, approval_id, "approval")


def check_status(value: str | None, statuses: type[StrEnum]) -> str | None:
    """A `?status=` filter: None for all, else one of the enum's values (422 naming them)."""
    if not value:
        return None
    allowed = [s.value for s in statuses]
    if value not in allowed:
        raise Invalid(f"status must be one of {', '.join(allowed)}", field="status")
    return value


def workflows_for(owner_id: int, limit: int = 50, cursor: str | None = None) -> Page:
    """The owner's workflows, newest first."""
    return paginate(_owned(Workflow, owner_id), [Workflow.created_at, Workflow.id], limit, cursor)


def runs_for(owner_id: int, workflow_id: str, status: str | None = None, limit: int = 50,
             cursor: str | None = None) -> Page:
    """One of the owner's workflows' runs, newest first, optionally of one status."""
    get_workflow(owner_id, workflow_id)
    status = check_status(status, RunStatus)
    query = _owned(Run, owner_id).where(Run.workflow_id == workflow_id)
    if status:
        query = query.where(Run.status == status)
    return paginate(query, [Run.id], limit, cursor)


def approvals_for(owner_id: int, status: str | None = None, limit: int = 50,
                  cursor: str | None = None) -> Page:
    """The owner's approvals, newest first, optionally of one status."""
    status = check_status(status, ApprovalStatus)
    query = _owned(Approval, owner_id)
    if status:
        query = query.where(Approval.status == status)
    # The JSON shape reads each approval's step and run: load them with the page, not per row.
    query = query.options(selectinload(Approval.run_step), selectinload(Approval.run))
    return paginate(query, [Approval.id], limit, cursor)


def approval_page(owner_id: int, history: bool, limit: int = 50, cursor: str | None = None) -> Page:
    """The approvals inbox: pending approvals, or (history) every decided, expired or
    cancelled one; newest first, with their step, run and workflow loaded with the page."""
    wanted = Approval.status != ApprovalStatus.PENDING if history else Approval.status == ApprovalStatus.PENDING
    # _owned already joins the run and its workflow: fill those relations from that join.
    query = _owned(Approval, owner_id).where(wanted).options(
        contains_eager(Approval.run).contains_eager(Run.workflow), selectinload(Approval.run_step))
    return paginate(query, [Approval.id], limit, cursor)


def pending_approval_count(owner_id: int) -> int:
    """How many approvals wait for the owner (the badge in the navigation bar)."""
    query = _owned(Approval, owner_id).where(Approval.status == ApprovalStatus.PENDING)
    return db.session.scalar(query.with_only_columns(sa.func.count(Approval.id))) or 0
