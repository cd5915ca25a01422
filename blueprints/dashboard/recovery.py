"""Runs that stopped, and what their owner does about them: "Retry from step N" for a failed run,
"Resume" for a run the cost guard paused, and a workflow's undeliverable step messages (QStash's
DLQ) with "Retry" (through the run's retry) and "Discard"."""
from __future__ import annotations

from typing import Any, Callable

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from blueprints.common import services
from blueprints.dashboard import bp
from blueprints.render import is_htmx, page_or_fragment
from models import Run, RunStatus
from workflows.authoring import owned
from workflows.engine import cost_guard, retries, undeliverable as dead
from workflows.errors import DomainError, Unavailable


def run_actions(run: Run) -> dict[str, Any]:
    """What the run page offers a stopped run: the failed step to retry (and where its owner must
    look first), or the step a budget-paused run waits at (and why it cannot resume yet)."""
    if run.status == RunStatus.FAILED:
        step = retries.failed_step(run.id)
        return {"failed_step": step, "confirm_where": retries.outcome_unknown(step) if step else None}
    if run.status == RunStatus.PAUSED_BUDGET:
        step = cost_guard.paused_step(run.id)
        return {"paused_step": step, "resume_refusal": cost_guard.resume_refusal(services(), run, step)}
    return {}


def _confirmed() -> bool:
    """The "I checked LinkedIn" checkbox."""
    return request.form.get("confirmedOutcome") == "true"


def _attempt(action: Callable[[], str], done: str, failed: str):  # type: ignore[no-untyped-def]
    """Do it, flash what happened (or why nothing did), and go to `done` or `failed`."""
    try:
        flash(action(), "success")
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(failed)
    return redirect(done)


@bp.post("/runs/<int:run_id>/retry")
@login_required
def retry_run(run_id: int):
    """Retry from step N: the failed step runs again, completed steps keep their outputs."""
    found = owned.get_run(current_user.id, run_id)
    here = url_for("dashboard.run", run_id=run_id)
    return _attempt(lambda: f"Run #{run_id} runs again from step {retries.retry_run(services(), found, _confirmed()) + 1}.",
                    here, here)


@bp.post("/runs/<int:run_id>/resume")
@login_required
def resume_run(run_id: int):
    """Resume a run the cost guard paused, once the budget allows its next step."""
    found = owned.get_run(current_user.id, run_id)
    workflow_page = url_for("dashboard.workflow", workflow_id=found.workflow_id, _anchor="costs")

    def resume() -> str:
        cost_guard.resume_run(services(), found)
        return f"Run #{run_id} resumed."

    return _attempt(resume, url_for("dashboard.run", run_id=run_id), workflow_page)


def _listing(workflow_id: str, **extra: Any):  # type: ignore[no-untyped-def]
    """The workflow's undeliverable messages: the section alone for htmx, else a page of its own."""
    found = owned.get_workflow(current_user.id, workflow_id)
    try:
        letters, cursor = dead.listing(services(), workflow_id, request.args.get("cursor") or None)
        error = None
    except Unavailable as exc:  # the rest of the workflow page never depends on QStash
        letters, cursor, error = [], None, exc.message
    return page_or_fragment("workflows/undeliverable.html", "workflows/_undeliverable.html", workflow=found,
                            letters=letters, next_cursor=cursor, load_error=error, **extra)


@bp.get("/workflows/<workflow_id>/undeliverable")
@login_required
def undeliverable(workflow_id: str):
    """Step messages of this workflow that QStash gave up on (its DLQ)."""
    return _listing(workflow_id)


def _on_letter(workflow_id: str, action: Callable[[], str]):  # type: ignore[no-untyped-def]
    """Act on one DLQ entry; htmx gets the section again with what happened, a form post a redirect."""
    owned.get_workflow(current_user.id, workflow_id)
    try:
        notice, error = action(), None
    except DomainError as exc:
        notice, error = None, exc.message
    if is_htmx():
        return _listing(workflow_id, notice=notice, action_error=error)
    flash(notice or error, "success" if notice else "error")
    return redirect(url_for("dashboard.workflow", workflow_id=workflow_id, _anchor="undeliverable"))


@bp.post("/workflows/<workflow_id>/undeliverable/<dlq_id>/retry")
@login_required
def retry_undeliverable(workflow_id: str, dlq_id: str):
    """Retry: the message's run is retried from its failed step, and the message leaves the DLQ."""
    def retry() -> str:
        run_id, index = dead.retry(services(), workflow_id, dlq_id, _confirmed())
        return f"Run #{run_id} runs again from step {index + 1}."

    return _on_letter(workflow_id, retry)


@bp.post("/workflows/<workflow_id>/undeliverable/<dlq_id>/discard")
@login_required
def discard_undeliverable(workflow_id: str, dlq_id: str):
    """Discard: the message leaves QStash's DLQ; its run stays as it is."""
    def discard() -> str:
        dead.discard(services(), workflow_id, dlq_id)
        return "Discarded the message."

    return _on_letter(workflow_id, discard)

