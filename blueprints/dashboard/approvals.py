"""The approvals inbox: inline decisions over htmx, Edit & approve in place, the History tab,
and the pending badge in the navigation (docs/architecture.md, *Approvals*)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.common import services
from blueprints.dashboard import bp, pending_count
from blueprints.render import is_htmx
from models import Approval, Channel
from workflows.authoring import changes, owned
from workflows.authoring.input_form import input_fields, parse_input_form, typed_fields
from workflows.authoring.pagination import parse_limit
from workflows.engine import approvals as deciding
from workflows.errors import Conflict, DomainError, Invalid, NotFound
from workflows.tools import get_tool

PAGE = "approvals/index.html"
CARD = "approvals/_card.html"


def _owned_or_404(approval_id: int) -> Approval:
    try:
        return owned.get_approval(current_user.id, approval_id)
    except NotFound:
        abort(404, description=f"Approval {approval_id} was not found.")


def _page(status: int = 200, **card: object):
    """The inbox (or its History tab); `card` shows one approval in a given state."""
    history = request.args.get("tab") == "history"
    try:
        page = owned.approval_page(current_user.id, history, parse_limit(request.args.get("limit")),
                                   request.args.get("cursor") or None)
    except DomainError as error:
        abort(400, description=error.message)
    comparisons = {} if history else changes.for_approvals(page.items)
    return render_template(PAGE, page=page, history=history, card=card, comparisons=comparisons,
                           now=services().clock()), status


def _card(approval: Approval, status: int = 200, **state: object):
    """One approval's card: alone for htmx (always 200: htmx swaps only a success, and a form
    with its errors is what should be swapped in), inside the page otherwise."""
    if is_htmx():
        return render_template(CARD, row=approval, now=services().clock(),
                               comparison=changes.for_approval(approval), **state)
    return _page(status, **{"id": approval.id, **state})


@bp.get("/approvals")
@login_required
def approvals():
    """Approvals waiting for the user (`?tab=history`: the decided ones)."""
    return _page()


@bp.get("/approvals/<int:approval_id>/card")
@login_required
def approval_card(approval_id: int):
    """One approval as it stands (the "Cancel" of Edit & approve)."""
    return _card(_owned_or_404(approval_id))


@bp.get("/approvals/<int:approval_id>/edit")
@login_required
def edit_approval(approval_id: int):
    """Edit & approve: the proposed input as editable fields, in place."""
    approval = _owned_or_404(approval_id)
    return _card(approval, editing=True, fields=_fields(approval, approval.proposed_input))


def _fields(approval: Approval, values: dict):
    tool = get_tool(approval.run_step.tool_name)
    return input_fields(tool, values) if tool else []


@bp.post("/approvals/<int:approval_id>/decision")
@login_required
def decide_approval(approval_id: int):
    """Approve, approve edited, request changes or reject; the card comes back decided."""
    approval = _owned_or_404(approval_id)
    decision = request.form.get("decision", "")
    feedback = request.form.get("feedback")
    tool_input = None
    if request.form.get("edited") and decision == "approve":
        tool = get_tool(approval.run_step.tool_name)
        tool_input, errors = parse_input_form(tool, request.form) if tool else ({}, {})
        if errors:
            return _card(approval, 422, editing=True,
                         fields=_refill(approval), errors=errors)
    try:
        decision, feedback, tool_input = deciding.parse_decision(
            {"decision": decision, "feedback": feedback, "toolInput": tool_input})
        approval = deciding.decide(services(), approval, decision, decided_by=current_user.email,
                                   channel=Channel.APP, feedback=feedback, tool_input=tool_input)
    except Conflict as error:
        approval = owned.get_approval(current_user.id, approval_id)
        return _decided(approval, error.message)
    except Invalid as error:
        if error.field == "feedback":
            return _card(approval, 422, feedback_error=error.message, feedback=feedback)
        if tool_input is not None:
            name = (error.field or "").removeprefix("toolInput.").split(".")[0]
            return _card(approval, 422, editing=True,
                         fields=_refill(approval), errors={name: error.message})
        abort(400, description=error.message)
    return _decided(approval)


def _refill(approval: Approval) -> list:
    """The edit fields holding what was typed (so a mistake is fixed, not retyped)."""
    tool = get_tool(approval.run_step.tool_name)
    return typed_fields(tool, request.form) if tool else []


def _decided(approval: Approval, conflict: str | None = None):
    """The decided card plus the badge (out of band) for htmx; back to the inbox otherwise."""
    if is_htmx():
        return render_template("approvals/_decided.html", row=approval, conflict=conflict,
                               now=services().clock(), badge_count=owned.pending_approval_count(current_user.id))
    flash(conflict or f"Step {approval.run_step.step_index + 1} of “{approval.run.workflow.goal}”: "
          f"{approval.status.value.replace('_', ' ')}.", "info" if conflict else "success")
    return redirect(url_for("dashboard.approvals"))


@bp.get("/approvals/badge")
def approvals_badge():
    """The navigation's pending count, polled; 286 (htmx: stop polling) once logged out."""
    if not current_user.is_authenticated:
        return "", 286
    return render_template("approvals/_badge.html", badge_count=pending_count())


@bp.app_context_processor
def _badge_interval() -> dict:
    return {"badge_poll_seconds": current_app.config.get("BADGE_POLL_SECONDS", 30)}
