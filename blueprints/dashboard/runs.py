"""Every run (`/runs`) and a run's page (`/runs/<id>`), which polls itself while the run is active."""
from __future__ import annotations

from functools import partial

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.common import services
from blueprints.dashboard import bp
from blueprints.dashboard.recovery import run_actions
from blueprints.dashboard.timeline import (
    is_active,
    run_seconds,
    status_options,
    step_seconds,
    step_status_word,
    timeline,
    waiting_turn,
)
from blueprints.render import is_htmx, page_or_fragment
from models import Run, RunStatus, StepStatus
from workflows.authoring import owned
from workflows.engine import runs as engine_runs

PAGE_SIZE = 25


@bp.get("/runs")
@login_required
def runs():
    """Every run of every workflow, newest first, filterable by status; the list alone for htmx."""
    status = request.args.get("status") or None
    page = owned.all_runs_for(current_user.id, status, PAGE_SIZE, request.args.get("cursor") or None)
    return page_or_fragment("runs/index.html", "runs/_list.html", results=page, status=status or "",
                            status_options=status_options(RunStatus), list_url=url_for("dashboard.runs"), show_workflow=True)


def _run_context(run: Run) -> dict:
    now = services().clock()
    steps = run.steps
    active = is_active(run)
    linkedin = [s.output["url"] for s in steps if s.tool_name == "linkedin_post"
                and s.status == StepStatus.COMPLETED and isinstance(s.output, dict) and s.output.get("url")]
    return {
        "run": run, "workflow": run.workflow, "steps": steps, "active": active, "now": now,
        "timeline": timeline(run, steps, now), "run_seconds": run_seconds(run, now),
        "step_seconds": {s.step_index: step_seconds(s, now, active) for s in steps},
        "step_status_word": partial(step_status_word, waiting_turn=waiting_turn(
            run, steps, bool(services().settings.step_parallelism))),
        "assets": owned.run_assets(run.id),
        "conversation": owned.run_conversation(run.conversation_id), "linkedin_urls": linkedin,
        **run_actions(run),
    }


@bp.get("/runs/<int:run_id>")
@login_required
def run(run_id: int):
    """A run: its timeline, steps, assets and conversation; the live part alone for htmx polling."""
    found = owned.get_run(current_user.id, run_id)
    return page_or_fragment("runs/show.html", "runs/_run.html", **_run_context(found))


@bp.post("/runs/<int:run_id>/cancel")
@login_required
def cancel_run(run_id: int):
    """Cancel run: waiting steps are cancelled; a step already running finishes alone."""
    found = owned.get_run(current_user.id, run_id)
    if not engine_runs.cancel(services(), found):
        message = f"Run #{run_id} had already finished; nothing was cancelled."
    else:
        message = f"Run #{run_id} was cancelled."
    found = owned.get_run(current_user.id, run_id)
    if is_htmx():
        return render_template("runs/_run.html", notice=message, **_run_context(found))
    flash(message, "success")
    return redirect(url_for("dashboard.run", run_id=run_id))
