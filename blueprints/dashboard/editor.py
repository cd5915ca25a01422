"""The New workflow / Edit form, and the fragments it swaps with htmx.

Every fragment endpoint also answers a plain form post (no JavaScript) with the whole form, so
"Add step", "Plan with AI" and "Test step" work as ordinary submit buttons too.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.common import services
from blueprints.dashboard import bp
from blueprints.dashboard.workflow_form import OVERLAP_LABELS, FormInvalid, FormState, StepState, save
from blueprints.render import is_htmx, viewer_zone
from models import Overlap, Workflow
from workflows.authoring import owned, planning, schedule_text, trial
from workflows.authoring.definitions import known_timezone
from workflows.authoring.recipes import RECIPES, get_recipe
from workflows.errors import DomainError
from workflows.tools import REGISTRY

FORM = "workflows/form.html"


@lru_cache(maxsize=1)
def _timezones() -> tuple[str, ...]:
    """The "Timezone" options: UTC, then every Area/City zone."""
    return ("UTC", *sorted(z for z in available_timezones() if "/" in z and known_timezone(z)))


def _form(state: FormState, workflow: Workflow | None, errors: dict[str, str] | None = None,
          status: int = 200, **extra: Any):  # type: ignore[no-untyped-def]
    """The whole form page."""
    context = _context(state, workflow, errors, **extra)
    context["preview"] = schedule_text.preview(state.schedule, state.timezone, services().clock())
    return render_template(FORM, **context), status


def _context(state: FormState, workflow: Workflow | None, errors: dict[str, str] | None = None,
             **extra: Any) -> dict[str, Any]:
    """What the form and its partials draw from (the step list needs all of it too)."""
    zones = _timezones() if state.timezone in _timezones() else (state.timezone, *_timezones())
    return {
        "state": state, "workflow": workflow, "errors": errors or {}, "trials": {},
        "tool_options": [(name, name) for name in REGISTRY],
        "timezone_options": [(zone, zone) for zone in zones],
        "overlaps": [(o.value, OVERLAP_LABELS.get(o.value, o.value)) for o in Overlap],
        "llm_ready": services().llm is not None, "no_llm_message": planning.NO_LLM_MESSAGE,
        "recipes": RECIPES.values(), "can_try": trial.can_try, **extra,
    }


def _posted_workflow() -> Workflow | None:
    """The workflow an edit form belongs to (its hidden field), checked to be the user's."""
    workflow_id = request.form.get("workflow_id")
    return owned.get_workflow(current_user.id, workflow_id) if workflow_id else None


@bp.get("/workflows/new")
@login_required
def new_workflow():
    """The empty form, or a recipe's workflow ready to create (`?recipe=<name>`)."""
    name = request.args.get("recipe")
    if name:
        recipe = get_recipe(name)
        if recipe is None:
            abort(404, description=f"There is no recipe named “{name[:60]}”. Recipes: {', '.join(RECIPES)}.")
        state = FormState.from_data(recipe.data(current_user.email), viewer_zone().key)
    else:
        state = FormState(timezone=viewer_zone().key)
    return _form(state, None, recipe=name)


@bp.post("/workflows/new")
@login_required
def create_workflow():
    """Create the workflow, or show the form again with every problem beside its field."""
    state = FormState.from_form(request.form)
    try:
        workflow = save(services(), current_user.id, state)
    except FormInvalid as exc:
        return _form(state, None, exc.errors, 422)
    return redirect(url_for("dashboard.workflow", workflow_id=workflow.id))


@bp.get("/workflows/<workflow_id>/edit")
@login_required
def edit_workflow(workflow_id: str):
    """The form of an existing workflow."""
    workflow = owned.get_workflow(current_user.id, workflow_id)
    return _form(FormState.from_workflow(workflow), workflow)


@bp.post("/workflows/<workflow_id>/edit")
@login_required
def update_workflow(workflow_id: str):
    """Save changes (runs in progress keep the steps they started with)."""
    workflow = owned.get_workflow(current_user.id, workflow_id)
    state = FormState.from_form(request.form)
    try:
        save(services(), current_user.id, state, workflow)
    except FormInvalid as exc:
        return _form(state, workflow, exc.errors, 422)
    return redirect(url_for("dashboard.workflow", workflow_id=workflow_id))


def _steps(state: FormState, **extra: Any):  # type: ignore[no-untyped-def]
    """The step list alone for htmx, else the whole form."""
    workflow = _posted_workflow()
    if is_htmx():
        return render_template("workflows/_steps.html", **_context(state, workflow, **extra))
    return _form(state, workflow, **extra)


@bp.post("/workflows/form/steps")
@login_required
def edit_steps():
    """Add, remove, move a step or change its tool; nothing is stored."""
    state = FormState.from_form(request.form)
    state.edit(request.form.get("edit", ""))
    return _steps(state)


@bp.post("/workflows/form/plan")
@login_required
def plan_steps():
    """Plan with AI: the planner's proposal replaces the step list; nothing is stored."""
    state = FormState.from_form(request.form)
    try:
        plan = planning.propose_plan(services(), {"goal": state.goal})
    except DomainError as exc:  # no model, an empty goal, the model unreachable or its plan invalid
        return _steps(state, plan_error=exc.message)
    state.steps = [StepState.from_data(step) for step in plan]
    return _steps(state, planned=True)


@bp.post("/workflows/form/steps/<int:index>/test")
@login_required
def test_step(index: int):
    """Test step: run a read-only tool now with this input and show its output; nothing is stored."""
    state = FormState.from_form(request.form)
    if index >= len(state.steps):
        abort(404, description=f"the form has no step {index + 1}")
    data, errors = state.data()
    result = trial.try_step(services(), current_user.email, state.goal, index, data["steps"][index])
    unreadable = [message for key, message in errors.items() if key.startswith(f"steps-{index}-")]
    if unreadable:
        result = trial.TrialResult(error="; ".join(unreadable))
    if is_htmx():
        return render_template("workflows/_trial.html", index=index, trial=result)
    return _form(state, _posted_workflow(), trials={index: result})


@bp.get("/workflows/schedule")
@login_required
def describe_schedule():
    """The schedule in words and its next 5 runs, or what is wrong with it (live, as you type)."""
    preview = schedule_text.preview(request.args.get("schedule"), request.args.get("timezone"), services().clock())
    return render_template("workflows/_schedule_preview.html", preview=preview)
