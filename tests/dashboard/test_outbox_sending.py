"""Sending the outbox (workflows/engine/sending.py) with the recording Mailer double: only after
the commit, once per row, retried with backoff, `failed` with the error after the last try,
and shown on Settings while unsent."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from extensions import db
from models import Outbox, OutboxStatus
from workflows.engine import outbox, sending
from workflows.integrations import accounts


class Clock:
    def __init__(self, services) -> None:
        self.now = services.clock()

    def __call__(self):
        return self.now


def _row(key: str = "k") -> Outbox:
    return db.session.scalar(sa.select(Outbox).where(Outbox.dedup_key == key))


def test_an_email_is_sent_only_after_its_transaction_commits(app, mailer):
    services = app.extensions["stepwise"]
    seen_committed = []

    def check_committed(email):
        # Another connection sees the row only if it was committed before the SMTP call.
        with db.engine.connect() as other:
            seen_committed.append(other.execute(sa.select(Outbox.id).where(Outbox.dedup_key == "k")).first() is not None)
        mailer.sent.append(email)

    mailer.send = check_committed
    with app.app_context():
        outbox.queue_email("rolled-back", "a@example.com", "Never", "text")
        db.session.rollback()
        sending.commit_and_send(services)
        assert mailer.sent == [] and _row("rolled-back") is None
        outbox.queue_email("k", "a@example.com", "Hello", "text", "<p>hi</p>")
        sending.commit_and_send(services)
        assert seen_committed == [True]
        assert [(e.to, e.subject, e.html, e.message_id) for e in mailer.sent] == [("a@example.com", "Hello", "<p>hi</p>", "<k@stepwise>")]
        row = _row()
        assert row.status == OutboxStatus.SENT and row.attempts == 1 and row.sent_at is not None


def test_a_row_is_sent_once_however_often_it_is_offered(app, mailer):
    services = app.extensions["stepwise"]
    with app.app_context():
        outbox.queue_email("k", "a@example.com", "Hello", "text")
        db.session.commit()
        row_id = _row().id
        db.session.execute(sa.update(Outbox).values(claimed_until=services.clock() + timedelta(minutes=1)))
        db.session.commit()
        assert sending.send(services, [row_id]) == 0  # another sender holds the claim
        db.session.execute(sa.update(Outbox).values(claimed_until=None))
        db.session.commit()
        assert sending.send(services, [row_id, row_id]) == 1
        assert sending.retry_due(services) == (0, 0)
    assert len(mailer.sent) == 1


def test_failures_back_off_then_fail_for_good_with_the_error(app, mailer):
    services = app.extensions["stepwise"]
    clock, original = Clock(services), services.clock
    services.clock = clock
    mailer.down = True
    try:
        with app.app_context():
            outbox.queue_email("k", "a@example.com", "Hello", "text")
            sending.commit_and_send(services)
            row = _row()
            assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 1) and "unreachable" in row.error
            assert row.next_attempt_at == clock.now + sending.backoff(1)
            assert sending.retry_due(services) == (0, 0)  # not due yet
            for attempt in range(2, sending.MAX_ATTEMPTS + 1):
                clock.now += sending.backoff(attempt - 1)
                assert sending.retry_due(services) == (0, 1)
            db.session.expire_all()
            row = _row()
            assert (row.status, row.attempts) == (OutboxStatus.FAILED, sending.MAX_ATTEMPTS)
            assert row.error == "SMTP server unreachable: connection refused"
            clock.now += timedelta(days=1)
            mailer.down = False
            assert sending.retry_due(services) == (0, 0)  # failed rows are left alone
    finally:
        services.clock = original
    assert [sending.backoff(n).total_seconds() / 60 for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert mailer.sent == []


def test_settings_shows_mail_that_has_not_gone_out(app, client, ada, mailer):
    services = app.extensions["stepwise"]
    mailer.down = True
    with app.app_context():
        user = accounts.user_by_email(ada)
        outbox.queue_email("k", ada, "Hello", "text", user_id=user.id)
        sending.commit_and_send(services)
    html = client.get("/settings").get_data(as_text=True)
    assert "1 email not sent yet; Stepwise keeps trying." in html
    assert "Last error: SMTP server unreachable: connection refused" in html
