"""Every QStash message goes through a `PendingPublish` row (docs/architecture.md, *Publishing*).

The row is written in the transaction that changes the state the message depends on, and
published only after that commit, from the values this process already holds (no re-read). If
the process dies in between, the next delivery of the same step or the sweeper publishes it;
deduplication ids make a second publish harmless.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from extensions import db
from models import PendingPublish, UTCDateTime
from workflows.engine import sending
from workflows.engine.attempt import connection
from workflows.engine.queue_client import OutgoingMessage
from workflows.errors import Refused, Unavailable
from workflows.ports import Services

log = logging.getLogger(__name__)

STEP_FLOW_CONTROL_KEY = "stepwise-steps"  # STEP_PARALLELISM's QStash flow-control key
STEP_PATH = "/api/workflows/step"
TRIGGER_PATH = "/api/workflows/trigger"
FAILED_PATH = "/api/workflows/failed"
EXPIRE_PATH = "/api/approvals/expire"
SWEEP_PATH = "/api/maintenance/sweep"

_QUEUED = "stepwise_publishes"
_rows = PendingPublish.__table__
_NOW = sa.bindparam("now", type_=UTCDateTime())

_INSERT = sa.insert(_rows).values(
    destination=sa.bindparam("b_destination"), body=sa.bindparam("b_body", type_=_rows.c.body.type),
    dedup_id=sa.bindparam("b_dedup_id"), delay_seconds=sa.bindparam("b_delay_seconds"),
    options=sa.bindparam("b_options", type_=_rows.c.options.type), run_id=sa.bindparam("b_run_id"),
    step_index=sa.bindparam("b_step_index"), created_at=_NOW, attempts=0,
).returning(_rows.c.id)
_SENT = (
    sa.update(_rows).where(_rows.c.id == sa.bindparam("row_id"), _rows.c.sent_at.is_(None))
    .values(sent_at=_NOW, message_id=sa.bindparam("b_message_id"), attempts=_rows.c.attempts + 1)
)
_FAILED = (
    sa.update(_rows).where(_rows.c.id == sa.bindparam("row_id"))
    .values(attempts=_rows.c.attempts + 1, last_error=sa.bindparam("error"))
)
_UNSENT = sa.select(_rows).where(_rows.c.id == sa.bindparam("row_id"), _rows.c.sent_at.is_(None))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_QUEUED, None)  # rolled-back rows were never written


def _queue(services: Services, destination: str, body: dict[str, Any], dedup_id: str, options: dict[str, Any],
           run_id: int | None, step_index: int | None, delay_seconds: int | None = None) -> int:
    """Write the row in the caller's transaction and note it, so the commit can publish it."""
    row_id = connection().execute(_INSERT, {
        "b_destination": destination, "b_body": body, "b_dedup_id": dedup_id, "b_delay_seconds": delay_seconds,
        "b_options": options, "b_run_id": run_id, "b_step_index": step_index, "now": services.clock(),
    }).scalar_one()
    db.session.info.setdefault(_QUEUED, []).append((row_id, _message(services, destination, body, dedup_id,
                                                                     options, delay_seconds)))
    return row_id


def commit_and_flush(services: Services) -> str | None:
    """Commit the transaction, then publish the rows it queued and send the emails it queued.

    Returns None when every message reached QStash, else what went wrong (QStash unreachable, or
    refusing the publish, in its own words). An email that fails is retried by the sweep and
    never reported here.
    """
    queued = db.session.info.pop(_QUEUED, [])
    emails = sending.take_queued()
    db.session.commit()
    problem = _publish(services, queued)
    sending.send(services, emails)
    return problem


def step_dedup_id(workflow_id: str, run_id: int, step_index: int) -> str:
    """The deduplication id of a step message (contract)."""
    return f"wf-{workflow_id}-run-{run_id}-step-{step_index}"


def step_label(workflow_id: str) -> str:
    """The QStash label of a workflow's step messages: its DLQ is listed by it."""
    return f"wf-{workflow_id}"


def queue_step(services: Services, workflow_id: str, run_id: int, conversation_id: str, step_index: int, *,
               source_step: int | None, decision_id: int | None = None, user_response: str | None = None,
               again: str | None = None) -> int:
    """Add the message that runs step `step_index` of the run (published after the commit).

    `again` names a new delivery of a step the owner sent on its way once more (`retry-{n}`,
    `resume-{n}`): like a resume after a decision, it needs an id of its own, because the plain
    one may still sit in QStash's dedup window.
    """
    body: dict[str, Any] = {"workflowId": workflow_id, "runId": run_id, "conversationId": conversation_id,
                            "stepIndex": step_index}
    dedup_id = step_dedup_id(workflow_id, run_id, step_index)
    if decision_id is not None:
        body["userResponse"] = user_response
        body["approvalId"] = decision_id
        dedup_id += f"-decision-{decision_id}"
    if again is not None:
        dedup_id += f"-{again}"
    settings = services.settings
    options = {"retries": settings.step_retries, "failureCallback": FAILED_PATH,
               "timeoutSeconds": settings.step_timeout_seconds, "label": step_label(workflow_id)}
    if settings.step_parallelism:
        # One key for every step of every run: no more than this many execute at once.
        options["flowControl"] = {"key": STEP_FLOW_CONTROL_KEY, "parallelism": settings.step_parallelism}
    return _queue(services, STEP_PATH, body, dedup_id, options, run_id, source_step)


def followed_by_another(workflow_id: str, run_id: int, step_index: int, message_id: Any) -> bool:
    """Whether QStash's step message `message_id` was followed by another message for the same
    step (a retry from the failed step, a resume): a late failure callback for the earlier one
    must not fail the step the later one is running. False when the message is not known here
    (never ours, or pruned after a week), which leaves the callback to act as before.
    """
    if not isinstance(message_id, str) or not message_id:
        return False
    base = step_dedup_id(workflow_id, run_id, step_index)
    failed = sa.select(sa.func.min(_rows.c.id)).where(_rows.c.run_id == run_id, _rows.c.message_id == message_id)
    later = sa.select(_rows.c.id).where(
        _rows.c.run_id == run_id, _rows.c.destination == STEP_PATH, _rows.c.id > failed.scalar_subquery(),
        sa.or_(_rows.c.dedup_id == base, _rows.c.dedup_id.startswith(f"{base}-", autoescape=True)),
    ).limit(1)
    return connection().execute(later).first() is not None


def queue_expiry(services: Services, workflow_id: str, run_id: int, step_index: int, approval_id: int,
                 expires_at: datetime) -> int:
    """Add the delayed message that expires the approval if nobody decides it in time."""
    delay = max(1, int((expires_at - services.clock()).total_seconds()))
    return _queue(services, EXPIRE_PATH, {"approvalId": approval_id},
                  f"{step_dedup_id(workflow_id, run_id, step_index)}-expire-{approval_id}",
                  {"retries": services.settings.step_retries}, run_id, step_index, delay)


def _message(services: Services, destination: str, body: dict[str, Any], dedup_id: str,
             options: dict[str, Any] | None, delay_seconds: int | None) -> OutgoingMessage:
    options = options or {}
    callback = options.get("failureCallback")
    return OutgoingMessage(
        url=services.url(destination), body=body, dedup_id=dedup_id, delay_seconds=delay_seconds,
        retries=options.get("retries"), failure_callback=services.url(callback) if callback else None,
        timeout_seconds=options.get("timeoutSeconds"), label=options.get("label"),
        flow_control_key=(options.get("flowControl") or {}).get("key"),
        parallelism=(options.get("flowControl") or {}).get("parallelism"),
    )


def _publish(services: Services, queued: list[tuple[int, OutgoingMessage]]) -> str | None:
    """Publish committed rows and record the outcome; None when every one reached QStash, else
    the first failure as QStash's client reported it ("unreachable", "unavailable" or "refused").

    The caller has committed: no transaction is held open while QStash is called.
    """
    problem = None
    for row_id, message in queued:
        try:
            message_id = services.queue.publish(message)
        except (Unavailable, Refused) as exc:  # a refusal is logged by the client; the sweep retries both
            problem = problem or exc.message
            log.warning("publish of %s failed, the sweeper will retry: %s", message.dedup_id, exc)
            connection().execute(_FAILED, {"row_id": row_id, "error": str(exc)[:2000]})
        else:
            connection().execute(_SENT, {"row_id": row_id, "now": services.clock(), "b_message_id": message_id})
        db.session.commit()
    return problem


def flush(services: Services, ids: Iterable[int]) -> str | None:
    """Publish these committed rows if still unsent; None when every one reached QStash, else
    what went wrong."""
    queued = []
    for row_id in ids:
        row = connection().execute(_UNSENT, {"row_id": row_id}).first()
        if row is not None:
            queued.append((row_id, _message(services, row.destination, row.body, row.dedup_id, row.options,
                                            row.delay_seconds)))
    db.session.rollback()  # end the read before the network calls
    return _publish(services, queued)


def unsent_for_step(run_id: int, step_index: int) -> list[int]:
    """Unsent rows written by the completion (or pause) of one step."""
    return list(db.session.scalars(
        sa.select(PendingPublish.id).where(
            PendingPublish.run_id == run_id, PendingPublish.step_index == step_index,
            PendingPublish.sent_at.is_(None))
    ))


def flush_stale(services: Services, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> tuple[int, int]:
    """The sweeper's part: publish rows a crash left behind. Returns (sent, still failing)."""
    cutoff = services.clock() - older_than
    ids = list(db.session.scalars(
        sa.select(PendingPublish.id)
        .where(PendingPublish.sent_at.is_(None), PendingPublish.created_at <= cutoff)
        .order_by(PendingPublish.id).limit(limit)
    ))
    db.session.commit()
    failed = sum(1 for row_id in ids if flush(services, [row_id]) is not None)
    return len(ids) - failed, failed


def prune_sent(services: Services, keep: timedelta = timedelta(days=7)) -> int:
    """Forget published rows after a week; they only matter until QStash has them."""
    result = db.session.execute(
        sa.delete(PendingPublish).where(
            PendingPublish.sent_at.is_not(None), PendingPublish.sent_at < services.clock() - keep)
    )
    db.session.commit()
    return result.rowcount or 0
