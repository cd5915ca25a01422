"""Owned reads: every "the caller's workflow, run or approval, else NotFound" and every list.

All of them go through `_owned`, which keeps the owner's rows (`owner_id`: a run and an approval
carry their workflow's owner, so each list is one range of an index, never a join over every
run), so another user's object is indistinguishable from a missing one (404), and `?status=` is
checked in one place.
"""
from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, selectinload

from extensions import db
from models import Approval, ApprovalStatus, Asset, Message, Run, RunStatus, Workflow
from workflows.authoring.pagination import Page, paginate
from workflows.errors import Invalid, NotFound

Row = TypeVar("Row", Workflow, Run, Approval)
LIKE_SPECIALS = re.compile(r"[\\%_]")


class RecentRun(NamedTuple):
    """One square of a workflow's strip of recent runs (status as its plain value: a page draws
    hundreds of squares, and reading an enum member's value costs more than the rest)."""

    id: int
    status: str
    created_at: datetime


def _owned(model: type[Row], owner_id: int) -> sa.Select:
    """SELECT `model` rows that belong to `owner_id`."""
    return sa.select(model).where(model.owner_id == owner_id)


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


def workflows_for(owner_id: int, limit: int = 50, cursor: str | None = None, search: str | None = None,
                  with_steps: bool = False) -> Page:
    """The owner's workflows, newest first; `search` keeps those whose goal contains it;
    `with_steps` loads every workflow's steps with the page (one statement, not one each)."""
    query = _owned(Workflow, owner_id)
    if with_steps:
        query = query.options(selectinload(Workflow.steps))
    if search and search.strip():
        pattern = "%" + LIKE_SPECIALS.sub(r"\\\g<0>", search.strip()) + "%"
        query = query.where(Workflow.goal.ilike(pattern, escape="\\"))
    return paginate(query, [Workflow.created_at, Workflow.id], limit, cursor)


def recent_runs(workflow_ids: list[str], count: int = 30) -> dict[str, list[RecentRun]]:
    """The last `count` runs of each workflow, newest first, in ONE statement for a whole page.

    One small LIMIT query per workflow joined by UNION ALL: each walks the workflow's index
    backwards and stops after `count` rows, however long its history is (a window function over
    all runs would read every one).
    """
    if not workflow_ids:
        return {}
    found: dict[str, list[RecentRun]] = {wid: [] for wid in workflow_ids}
    params = {f"w{i}": wid for i, wid in enumerate(workflow_ids)}
    for run_id, workflow_id, status, created_at in db.session.execute(
            _recent_runs_statement(len(workflow_ids), count), params):
        found[workflow_id].append(RecentRun(run_id, status, created_at))
    for runs in found.values():
        runs.sort(reverse=True)  # by id: UNION ALL promises no order
    return found


@lru_cache(maxsize=16)
def _recent_runs_statement(workflows: int, count: int) -> sa.Select | sa.CompoundSelect:
    """recent_runs' statement for that many workflows, built once (building 25 subqueries per
    request cost as much as running them)."""
    # The status as the stored string: turning 750 of them into enum members and back cost
    # more than the query.
    columns = (Run.id, Run.workflow_id, sa.type_coerce(Run.status, sa.String).label("status"), Run.created_at)
    parts = [sa.select(*columns).where(Run.workflow_id == sa.bindparam(f"w{i}")).order_by(Run.id.desc())
             .limit(count).subquery().select() for i in range(workflows)]
    return sa.union_all(*parts) if workflows > 1 else parts[0]


def all_runs_for(owner_id: int, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
    """Every run of every one of the owner's workflows, newest first, optionally of one status."""
    status = check_status(status, RunStatus)
    query = _owned(Run, owner_id).join(Run.workflow).options(contains_eager(Run.workflow))
    if status:
        query = query.where(Run.status == status)
    return paginate(query, [Run.id], limit, cursor)


def run_assets(run_id: int) -> list[Asset]:
    """The assets of a run (of an owned run: look the run up first), in order."""
    return list(db.session.scalars(sa.select(Asset).where(Asset.run_id == run_id).order_by(Asset.id)))


def run_conversation(conversation_id: str) -> list[Message]:
    """A run's conversation with the model, in order."""
    return list(db.session.scalars(
        sa.select(Message).where(Message.conversation_id == conversation_id).order_by(Message.position)))


def runs_for(owner_id: int, workflow_id: str, status: str | None = None, limit: int = 50,
             cursor: str | None = None) -> Page:
    """One of the owner's workflows' runs, newest first, optionally of one status."""
    return workflow_runs(get_workflow(owner_id, workflow_id), status, limit, cursor)


def workflow_runs(workflow: Workflow, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
    """The runs of a workflow already looked up as the owner's (`get_workflow`), newest first."""
    status = check_status(status, RunStatus)
    # Filtering by owner too would invite the owner's index, which walks every one of the
    # owner's runs to find this workflow's few.
    query = sa.select(Run).where(Run.workflow_id == workflow.id)
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
    # The run and its workflow come in the same statement (a primary-key join per row of the page).
    query = _owned(Approval, owner_id).join(Approval.run).join(Run.workflow).where(wanted).options(
        contains_eager(Approval.run).contains_eager(Run.workflow), selectinload(Approval.run_step))
    if history:  # a superseded one names the run that took its place
        query = query.options(contains_eager(Approval.run).selectinload(Run.superseded_by))
    return paginate(query, [Approval.id], limit, cursor)


def pending_approval_count(owner_id: int) -> int:
    """How many approvals wait for the owner (the badge in the navigation bar)."""
    query = _owned(Approval, owner_id).where(Approval.status == ApprovalStatus.PENDING)
    return db.session.scalar(query.with_only_columns(sa.func.count(Approval.id))) or 0
