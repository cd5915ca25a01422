"""Every QStash message goes through a `PendingPublish` row (docs/architecture.md, *Publishing*).

The row is written in the transaction that changes the state the message depends on, and
flushed to QStash only after that commit. If the process dies in between, the next delivery of
the same step or the sweeper flushes it; deduplication ids make a second flush harmless.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from extensions import db
from models import Approval, PendingPublish, Run
from workflows.engine import sending
from workflows.engine.queue_client import OutgoingMessage
from workflows.errors import Unavailable
from workflows.ports import Services

log = logging.getLogger(__name__)

STEP_PATH = "/api/workflows/step"
TRIGGER_PATH = "/api/workflows/trigger"
FAILED_PATH = "/api/workflows/failed"
EXPIRE_PATH = "/api/approvals/expire"
SWEEP_PATH = "/api/maintenance/sweep"


_QUEUED = "stepwise_publishes"


def _remember(row: PendingPublish) -> PendingPublish:
    """Note a row queued in the current transaction, so the commit can flush it."""
    db.session.add(row)
    db.session.info.setdefault(_QUEUED, []).append(row)
    return row


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_QUEUED, None)  # rolled-back rows were never written


def commit_and_flush(services: Services) -> bool:
    """Commit the transaction, then publish the rows it queued and send the emails it queued;
    False if QStash failed (an email that fails is retried by the sweep, never reported here)."""
    db.session.flush()
    ids = [row.id for row in db.session.info.pop(_QUEUED, [])]
    emails = sending.take_queued()
    db.session.commit()
    published = flush(services, ids) if ids else True
    sending.send(services, emails)
    return published


def step_dedup_id(workflow_id: str, run_id: int, step_index: int) -> str:
    """The deduplication id of a step message (contract)."""
    return f"wf-{workflow_id}-run-{run_id}-step-{step_index}"


def queue_step(
    services: Services,
    run: Run,
    step_index: int,
    *,
    source_step: int | None,
    decision: Approval | None = None,
    user_response: str | None = None,
) -> PendingPublish:
    """Add the message that runs step `step_index` of `run` (not yet published)."""
    body: dict[str, Any] = {
        "workflowId": run.workflow_id,
        "runId": run.id,
        "conversationId": run.conversation_id,
        "stepIndex": step_index,
    }
    dedup_id = step_dedup_id(run.workflow_id, run.id, step_index)
    if decision is not None:
        # A resume needs its own id: the plain one may still sit in QStash's dedup window.
        body["userResponse"] = user_response
        body["approvalId"] = decision.id
        dedup_id += f"-decision-{decision.id}"
    settings = services.settings
    row = PendingPublish(
        destination=STEP_PATH,
        body=body,
        dedup_id=dedup_id,
        options={
            "retries": settings.step_retries,
            "failureCallback": FAILED_PATH,
            "timeoutSeconds": settings.step_timeout_seconds,
        },
        run_id=run.id,
        step_index=source_step,
    )
    return _remember(row)


def queue_expiry(services: Services, run: Run, approval: Approval, step_index: int) -> PendingPublish:
    """Add the delayed message that expires `approval` if nobody decides it in time."""
    delay = max(1, int((approval.expires_at - services.clock()).total_seconds()))
    row = PendingPublish(
        destination=EXPIRE_PATH,
        body={"approvalId": approval.id},
        dedup_id=f"{step_dedup_id(run.workflow_id, run.id, step_index)}-expire-{approval.id}",
        delay_seconds=delay,
        options={"retries": services.settings.step_retries},
        run_id=run.id,
        step_index=step_index,
    )
    return _remember(row)


def _message(services: Services, row: PendingPublish) -> OutgoingMessage:
    options = row.options or {}
    callback = options.get("failureCallback")
    return OutgoingMessage(
        url=services.url(row.destination),
        body=row.body,
        dedup_id=row.dedup_id,
        delay_seconds=row.delay_seconds,
        retries=options.get("retries"),
        failure_callback=services.url(callback) if callback else None,
        timeout_seconds=options.get("timeoutSeconds"),
    )


def flush(services: Services, ids: Iterable[int]) -> bool:
    """Publish these rows if still unsent; True when every one of them reached QStash.

    The caller has committed: no transaction is held open while QStash is called.
    """
    ok = True
    for row_id in ids:
        row = db.session.get(PendingPublish, row_id)
        if row is None or row.sent_at is not None:
            continue
        message = _message(services, row)
        db.session.rollback()  # end the read before the network call
        try:
            message_id = services.queue.publish(message)
        except Unavailable as exc:
            ok = False
            log.warning("publish of %s failed, the sweeper will retry: %s", message.dedup_id, exc)
            db.session.execute(
                sa.update(PendingPublish)
                .where(PendingPublish.id == row_id)
                .values(attempts=PendingPublish.attempts + 1, last_error=str(exc)[:2000])
            )
            db.session.commit()
            continue
        db.session.execute(
            sa.update(PendingPublish)
            .where(PendingPublish.id == row_id, PendingPublish.sent_at.is_(None))
            .values(sent_at=services.clock(), message_id=message_id, attempts=PendingPublish.attempts + 1)
        )
        db.session.commit()
    return ok


def unsent_for_step(run_id: int, step_index: int) -> list[int]:
    """Unsent rows written by the completion (or pause) of one step."""
    return list(
        db.session.scalars(
            sa.select(PendingPublish.id).where(
                PendingPublish.run_id == run_id,
                PendingPublish.step_index == step_index,
                PendingPublish.sent_at.is_(None),
            )
        )
    )


def flush_stale(services: Services, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> tuple[int, int]:
    """The sweeper's part: publish rows a crash left behind. Returns (sent, still failing)."""
    cutoff = services.clock() - older_than
    ids = list(
        db.session.scalars(
            sa.select(PendingPublish.id)
            .where(PendingPublish.sent_at.is_(None), PendingPublish.created_at <= cutoff)
            .order_by(PendingPublish.id)
            .limit(limit)
        )
    )
    db.session.commit()
    failed = 0
    for row_id in ids:
        if not flush(services, [row_id]):
            failed += 1
    return len(ids) - failed, failed


def prune_sent(services: Services, keep: timedelta = timedelta(days=7)) -> int:
    """Forget published rows after a week; they only matter until QStash has them."""
    result = db.session.execute(
        sa.delete(PendingPublish).where(
            PendingPublish.sent_at.is_not(None), PendingPublish.sent_at < services.clock() - keep
        )
    )
    db.session.commit()
    return result.rowcount or 0
