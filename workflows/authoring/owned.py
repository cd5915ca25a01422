"""Read-side queries, always scoped to the owner: another user's object is simply not found."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from extensions import db
from models import Approval, ApprovalStatus, Run, Workflow
from workflows.pagination import Page, paginate


def workflows_for(owner_id: int, limit: int = 50, cursor: str | None = None) -> Page:
    """The owner's workflows, newest first."""
    query = sa.select(Workflow).where(Workflow.owner_id == owner_id)
    return paginate(query, [Workflow.created_at, Workflow.id], limit, cursor)


def approvals_for(
    owner_id: int, status: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page:
    """The owner's approvals, newest first, optionally of one status."""
    query = (
        sa.select(Approval)
        .join(Run, Run.id == Approval.run_id)
        .join(Workflow, Workflow.id == Run.workflow_id)
        .where(Workflow.owner_id == owner_id)
    )
    if status:
        query = query.where(Approval.status == status)
    # The JSON shape reads each approval's step and run: load them with the page, not per row.
    query = query.options(selectinload(Approval.run_step), selectinload(Approval.run))
    return paginate(query, [Approval.id], limit, cursor)


def pending_approval_count(owner_id: int) -> int:
    """How many approvals wait for the owner (the badge in the navigation bar)."""
    return db.session.scalar(
        sa.select(sa.func.count(Approval.id))
        .join(Run, Run.id == Approval.run_id)
        .join(Workflow, Workflow.id == Run.workflow_id)
        .where(Workflow.owner_id == owner_id, Approval.status == ApprovalStatus.PENDING)
    ) or 0
