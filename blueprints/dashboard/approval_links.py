"""The emailed approval link (docs/architecture.md, *Approvals*): `GET /approvals/<token>` shows
what would run and changes nothing, because mail scanners open links; `POST` decides.

No login is needed: the signed token, bound to one approval, is the authority, and the
decision is recorded as the approval owner's, through the `email` channel. Single use and
expiry come from the approval itself: once decided or past `expires_at`, the page says who
decided and when. A tampered or unknown token is a 404 page.
"""
from __future__ import annotations

from flask import abort, render_template, request

from blueprints.common import services
from blueprints.dashboard import bp
from extensions import db
from models import Approval, ApprovalStatus, Channel
from workflows.authoring import changes
from workflows.engine import approvals as deciding
from workflows.errors import Conflict, Invalid, Malformed
from workflows.integrations import signed_links

NOT_VALID = ("This approval link is not valid: it may have been mistyped or cut short by your mail "
             "program. Open the latest email about this step, or your approvals in Stepwise.")


def _approval(token: str) -> Approval:
    """The approval the token names; 404 for a tampered or unknown one."""
    try:
        payload = signed_links.read(services().settings.secret_key, signed_links.APPROVAL, token)
    except signed_links.BadLink:
        abort(404, description=NOT_VALID)
    approval_id = payload.get("a")
    approval = db.session.get(Approval, approval_id) if isinstance(approval_id, int) else None
    if approval is None:
        abort(404, description="This approval no longer exists: its workflow may have been deleted.")
    return approval


def _open(approval: Approval) -> bool:
    return approval.status == ApprovalStatus.PENDING and approval.expires_at > services().clock()


def _render(approval: Approval, token: str, status: int = 200, **extra: object):
    is_open = _open(approval)
    comparison = changes.for_approval(approval) if is_open else None
    return render_template("approvals/link.html", row=approval, token=token, open=is_open, comparison=comparison,
                           now=services().clock(), **extra), status


@bp.get("/approvals/<token>")
def approval_link(token: str):
    """Show the proposed step and the buttons; never decides anything."""
    return _render(_approval(token), token)


@bp.post("/approvals/<token>")
def decide_by_link(token: str):
    """Approve, request changes or reject, as the approval's owner, through the email channel."""
    approval = _approval(token)
    owner = approval.run.workflow.owner
    try:
        decision, feedback, _ = deciding.parse_decision(
            {"decision": request.form.get("decision", ""), "feedback": request.form.get("feedback")})
        if decision == "revise" and not approval.run_step.instruction:
            raise Invalid("this step has no instruction, so it cannot be revised: approve or reject it",
                          field="decision")
        approval = deciding.decide(services(), approval, decision, decided_by=owner.email,
                                   channel=Channel.EMAIL, feedback=feedback)
    except Conflict as error:
        return _render(db.session.get(Approval, approval.id), token, 409, conflict=error.message)
    except (Invalid, Malformed) as error:
        return _render(approval, token, 422, error=error.message, feedback=request.form.get("feedback"))
    return _render(approval, token, decided_now=True)
