"""The workflows list (`/`) and a workflow's page with its actions (pause, run now, duplicate, delete)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.common import services
from blueprints.dashboard import bp
from blueprints.dashboard.timeline import status_options
from blueprints.render import is_htmx, page_or_fragment
from models import RunStatus, Trigger, Workflow
from workflows.authoring import editing, owned, schedule_text
from workflows.authoring.owned import RecentRun
from workflows.authoring.recipes import RECIPES
from workflows.engine import cost_guard, costs, runs
from workflows.errors import DomainError

PAGE_SIZE = 25


@dataclass(frozen=True)
class WorkflowRow:
    """One line of the workflows list: the workflow and what is shown beside it."""

    workflow: Workflow
    words: str | None
    next_run: datetime | None
    recent: list[RecentRun]


@bp.get("/")
@login_required
def index():
    """The user's workflows, with a text filter; the list alone for htmx."""
    search = request.args.get("q", "").strip()
    page = owned.workflows_for(current_user.id, PAGE_SIZE, request.args.get("cursor") or None, search)
    recent = owned.recent_runs([w.id for w in page.items])
    now = services().clock()
    rows = [WorkflowRow(w, schedule_text.in_words(w.schedule) if w.schedule else None,
                        schedule_text.next_run(w.schedule, w.timezone, w.paused, now), recent[w.id])
            for w in page.items]
    return page_or_fragment("workflows/index.html", "workflows/_list.html", rows=rows, results=page,
                            search=search, recipes=RECIPES.values())


@bp.get("/workflows/<workflow_id>")
@login_required
def workflow(workflow_id: str):
    """A workflow: goal, steps, schedule, actions and its run history; the history alone for htmx."""
    found = owned.get_workflow(current_user.id, workflow_id)
    status = request.args.get("status") or None
    page = owned.workflow_runs(found, status, PAGE_SIZE, request.args.get("cursor") or None)
    preview = schedule_text.preview(found.schedule, found.timezone, services().clock())
    return page_or_fragment("workflows/show.html", "runs/_list.html", workflow=found, preview=preview,
                            results=page, status=status or "", status_options=status_options(RunStatus),
                            list_url=url_for("dashboard.workflow", workflow_id=workflow_id),
                            **({} if is_htmx() else _cost_context(found)))


def _cost_context(workflow: Workflow) -> dict[str, Any]:
    """The Cost section: the month's spend, the budget, a run's projected cost, runs the guard paused."""
    cost = costs.workflow_costs(services(), [workflow], services().clock())[workflow.id]
    return {"cost": cost, "budget_paused": cost_guard.paused_runs(services(), workflow)}


def _act(workflow_id: str, change: Callable[[Workflow], Any], done: str):  # type: ignore[no-untyped-def]
    """Change the user's workflow, flash what happened (or why nothing did), back to its page."""
    found = owned.get_workflow(current_user.id, workflow_id)  # another user's: 404
    try:
        change(found)
        flash(done, "success")
    except DomainError as exc:  # QStash unreachable: nothing changed, say so
        flash(exc.message, "error")
    return redirect(url_for("dashboard.workflow", workflow_id=workflow_id))


@bp.post("/workflows/<workflow_id>/pause")
@login_required
def pause_workflow(workflow_id: str):
    """Pause the schedule: no more ticks until resumed (runs in progress go on)."""
    return _act(workflow_id, lambda w: editing.update_workflow(services(), w, {"paused": True}),
                "Paused: the schedule starts no runs until you resume it.")


@bp.post("/workflows/<workflow_id>/resume")
@login_required
def resume_workflow(workflow_id: str):
    """Resume the schedule."""
    return _act(workflow_id, lambda w: editing.update_workflow(services(), w, {"paused": False}),
                "Resumed: the schedule starts runs again.")


@bp.post("/workflows/<workflow_id>/run")
@login_required
def run_workflow(workflow_id: str):
    """Run now: start a run and open its page."""
    run = runs.start_now(services(), owned.get_workflow(current_user.id, workflow_id), Trigger.MANUAL)
    return redirect(url_for("dashboard.run", run_id=run.id))


@bp.post("/workflows/<workflow_id>/duplicate")
@login_required
def duplicate_workflow(workflow_id: str):
    """A paused copy of the workflow, opened in its page."""
    original = owned.get_workflow(current_user.id, workflow_id)
    try:
        copy = editing.duplicate_workflow(services(), original)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("dashboard.workflow", workflow_id=workflow_id))
    flash("This is a paused copy: edit it, then press Resume to put its schedule to work.", "success")
    return redirect(url_for("dashboard.workflow", workflow_id=copy.id))


@bp.get("/workflows/<workflow_id>/delete")
@login_required
def confirm_delete_workflow(workflow_id: str):
    """Ask before deleting (works without JavaScript)."""
    return render_template("workflows/delete.html", workflow=owned.get_workflow(current_user.id, workflow_id))


@bp.post("/workflows/<workflow_id>/delete")
@login_required
def delete_workflow(workflow_id: str):
    """Delete the workflow, its runs and its QStash schedule."""
    found = owned.get_workflow(current_user.id, workflow_id)
    goal = found.goal
    try:
        editing.delete_workflow(services(), found)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("dashboard.workflow", workflow_id=workflow_id))
    flash(f"Deleted “{goal[:80]}” and its schedule.", "success")
    return redirect(url_for("dashboard.index"))
