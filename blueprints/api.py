"""The JSON API (docs/architecture.md, *HTTP surface*), authenticated by Bearer token or session cookie."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from blueprints.common import domain_error, json_body, optional_json_body, services
from blueprints.openapi import document
from blueprints.security import api_user
from models import Channel, Trigger
from workflows.authoring import changes, editing, owned, planning
from workflows.authoring.pagination import parse_limit
from workflows.authoring.serialize import approval_detail_json, approval_json, run_json, workflow_json
from workflows.engine import approvals, cost_guard, costs, retries, runs
from workflows.errors import Conflict, DomainError

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_error_handler(DomainError, domain_error)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    g.user = api_user()


def _page_params() -> tuple[int, str | None]:
    return parse_limit(request.args.get("limit")), request.args.get("cursor") or None


def _page(page, render):  # type: ignore[no-untyped-def]
    return jsonify(items=[render(item) for item in page.items], nextCursor=page.next_cursor)


@bp.get("/openapi.json")
def openapi():
    """OpenAPI 3.1 description of this API."""
    return jsonify(document())


def _workflow(workflow):  # type: ignore[no-untyped-def]
    """One workflow's JSON, its month's spend and projected run cost included."""
    now = services().clock()
    return workflow_json(workflow, now, costs.workflow_costs(services(), [workflow], now)[workflow.id])


@bp.get("/workflows")
def list_workflows():
    """The caller's workflows, newest first."""
    now, page = services().clock(), owned.workflows_for(g.user.id, *_page_params(), with_steps=True)
    found = costs.workflow_costs(services(), page.items, now)
    return _page(page, lambda w: workflow_json(w, now, found[w.id]))


@bp.post("/workflows")
def create_workflow():
    """Create a workflow; without steps, the planner proposes them."""
    workflow = editing.create_workflow(services(), g.user.id, json_body(), planning.planner_for(services()))
    return jsonify(_workflow(workflow)), 201


@bp.post("/workflows/plan")
def plan_workflow():
    """Propose steps for a goal; nothing is stored."""
    return jsonify(steps=planning.propose_plan(services(), json_body()))


@bp.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str):
    """One workflow."""
    return jsonify(_workflow(owned.get_workflow(g.user.id, workflow_id)))


@bp.patch("/workflows/<workflow_id>")
def update_workflow(workflow_id: str):
    """Change goal, schedule, timezone, steps, overlap, paused or budgetUsd."""
    workflow = owned.get_workflow(g.user.id, workflow_id)
    workflow = editing.update_workflow(services(), workflow, json_body())
    return jsonify(_workflow(workflow))


@bp.delete("/workflows/<workflow_id>")
def delete_workflow(workflow_id: str):
    """Delete a workflow, its runs and its QStash schedule."""
    editing.delete_workflow(services(), owned.get_workflow(g.user.id, workflow_id))
    return "", 204


@bp.post("/workflows/<workflow_id>/runs")
def start_run(workflow_id: str):
    """Run now: always starts a run."""
    workflow = owned.get_workflow(g.user.id, workflow_id)
    run = runs.start_now(services(), workflow, Trigger.API)
    return jsonify(runId=run.id, status=run.status.value), 202


@bp.get("/workflows/<workflow_id>/runs")
def list_runs(workflow_id: str):
    """A workflow's runs, newest first (`?status=`)."""
    page = owned.runs_for(g.user.id, workflow_id, request.args.get("status"), *_page_params())
    return _page(page, lambda r: run_json(r, detail=False))


@bp.get("/runs/<int:run_id>")
def get_run(run_id: int):
    """One run with its steps, approvals and assets."""
    return jsonify(run_json(owned.get_run(g.user.id, run_id)))


@bp.post("/runs/<int:run_id>/cancel")
def cancel_run(run_id: int):
    """Cancel a run that has not finished."""
    run = owned.get_run(g.user.id, run_id)
    if not runs.cancel(services(), run):
        raise Conflict(f"run {run_id} already finished ({run.status.value}); nothing to cancel")
    return jsonify(run_json(owned.get_run(g.user.id, run_id)))


@bp.post("/runs/<int:run_id>/retry")
def retry_run(run_id: int):
    """Retry a failed run from its failed step (`confirmedOutcome` where an effect may have happened)."""
    confirmed = retries.parse_retry(optional_json_body())
    retries.retry_run(services(), owned.get_run(g.user.id, run_id), confirmed)
    return jsonify(run_json(owned.get_run(g.user.id, run_id))), 202


@bp.post("/runs/<int:run_id>/resume")
def resume_run(run_id: int):
    """Resume a run the cost guard paused, once the budget allows its next step."""
    cost_guard.resume_run(services(), owned.get_run(g.user.id, run_id))
    return jsonify(run_json(owned.get_run(g.user.id, run_id))), 202


@bp.get("/approvals")
def list_approvals():
    """The caller's approvals, newest first (`?status=pending`)."""
    return _page(owned.approvals_for(g.user.id, request.args.get("status"), *_page_params()), approval_json)


@bp.get("/approvals/<int:approval_id>")
def get_approval(approval_id: int):
    """One approval, with the last approved version of its step and how similar the proposal is."""
    approval = owned.get_approval(g.user.id, approval_id)
    return jsonify(approval_detail_json(approval, changes.for_approval(approval)))


@bp.post("/approvals/<int:approval_id>")
def decide_approval(approval_id: int):
    """Approve (optionally with an edited toolInput), reject, or ask for changes."""
    approval = owned.get_approval(g.user.id, approval_id)
    decision, feedback, tool_input = approvals.parse_decision(json_body())
    approval = approvals.decide(
        services(), approval, decision, decided_by=g.user.email, channel=Channel.API,
        feedback=feedback, tool_input=tool_input,
    )
    return jsonify(approval_json(approval))
