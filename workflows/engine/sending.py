"""Sending the outbox over SMTP: after the commit that wrote a row, and again from the sweep.

A row is claimed by one conditional UPDATE before the SMTP call (status still `queued`, no live
claim, its backoff over), so two senders — the request that wrote it and the minute sweep, or
two sweeps — never both send it. A failed try leaves it `queued` with the error and a later
`next_attempt_at`; after MAX_ATTEMPTS it is `failed` for good. Without a mailer (no
MAIL_SERVER) nothing is sent: rows wait in the outbox and `/dev/mailbox` shows them.

If the process dies after the SMTP server accepted an email but before `sent` was committed,
the claim runs out and the sweep sends it again: SMTP offers no way to ask whether it arrived.
The Message-ID stays the same, so mail clients can drop the copy.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from extensions import db
from models import Outbox, OutboxStatus
from workflows.engine.outbox import QUEUED_KEY
from workflows.errors import MailError
from workflows.ports import OutgoingEmail, Services
from workflows.tools.send_email import message_id

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # tries 1 min, 2, 4, 8, 16, 32 and 60 min apart: about two hours in all
CLAIM = timedelta(minutes=2)  # longer than one SMTP conversation with its timeout


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(QUEUED_KEY, None)  # rolled-back rows were never written


def take_queued() -> list[int]:
    """Ids of the rows this transaction added (call before commit)."""
    rows = db.session.info.pop(QUEUED_KEY, [])
    if rows:
        db.session.flush()  # the rows get their ids
    return [row.id for row in rows]


def commit_and_send(services: Services) -> None:
    """Commit, then send the emails the transaction queued."""
    ids = take_queued()
    db.session.commit()
    send(services, ids)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try."""
    return timedelta(minutes=min(60, 2 ** (attempts - 1)))


def send(services: Services, ids: list[int]) -> int:
    """Send these rows if still due; the number sent. Nothing happens without a mailer."""
    if services.mailer is None or not ids:
        return 0
    return sum(_send_one(services, row_id) for row_id in ids)


def _send_one(services: Services, row_id: int) -> bool:
    now = services.clock()
    claimed = db.session.execute(
        sa.update(Outbox)
        .where(Outbox.id == row_id, Outbox.status == OutboxStatus.QUEUED,
               sa.or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now),
               sa.or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now))
        .values(claimed_until=now + CLAIM, attempts=Outbox.attempts + 1)
    ).rowcount
    if not claimed:
        db.session.rollback()
        return False
    row = db.session.get(Outbox, row_id)
    email = OutgoingEmail(to=row.to, subject=row.subject, text=row.text, html=row.html,
                          message_id=message_id(row.dedup_key))
    attempts = row.attempts
    db.session.commit()  # the claim is ours before the SMTP server is called
    try:
        services.mailer.send(email)
    except MailError as exc:
        final = attempts >= MAX_ATTEMPTS
        log.warning("email %s (try %s) failed%s: %s", row_id, attempts, "" if final else ", will retry", exc)
        values = {"status": OutboxStatus.FAILED} if final else {"next_attempt_at": services.clock() + backoff(attempts)}
        db.session.execute(sa.update(Outbox).where(Outbox.id == row_id, Outbox.status == OutboxStatus.QUEUED)
                           .values(error=str(exc)[:2000], claimed_until=None, **values))
        db.session.commit()
        return False
    db.session.execute(sa.update(Outbox).where(Outbox.id == row_id).values(
        status=OutboxStatus.SENT, sent_at=services.clock(), error=None, claimed_until=None,
        next_attempt_at=None))
    db.session.commit()
    return True


def retry_due(services: Services, limit: int = 200) -> tuple[int, int]:
    """The sweep's part: send rows that are due (failed earlier, or their sender died).

    Returns (sent, still unsent)."""
    if services.mailer is None:
        return 0, 0
    now = services.clock()
    ids = list(db.session.scalars(
        sa.select(Outbox.id).where(
            Outbox.status == OutboxStatus.QUEUED,
            sa.or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
            sa.or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now),
        ).order_by(Outbox.id).limit(limit)
    ))
    db.session.commit()
    sent = send(services, ids)
    return sent, len(ids) - sent


def unsent_for(user_id: int) -> dict[str, object]:
    """The user's mail that has not gone out: counts of queued and failed rows, the last error."""
    rows = db.session.execute(
        sa.select(Outbox.status, sa.func.count(Outbox.id), sa.func.max(Outbox.id))
        .where(Outbox.user_id == user_id, Outbox.status != OutboxStatus.SENT)
        .group_by(Outbox.status)
    ).all()
    counts = {status.value if hasattr(status, "value") else status: count for status, count, _ in rows}
    last_error = db.session.scalar(
        sa.select(Outbox.error).where(Outbox.user_id == user_id, Outbox.error.is_not(None),
                                      Outbox.status != OutboxStatus.SENT)
        .order_by(Outbox.id.desc()).limit(1)
    )
    return {"queued": counts.get("queued", 0), "failed": counts.get("failed", 0), "error": last_error}
