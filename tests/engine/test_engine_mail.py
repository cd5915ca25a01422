"""Emails end to end through a real SMTP server (aiosmtpd on loopback): the approval request and
its link (GET changes nothing, POST decides once, expiry), the reminder, run failed and run
completed, and the password reset. Mail while the SMTP server is down (sent once it is back,
never twice) is a fault of its own: tests/reliability/test_smtp_outage.py."""
from __future__ import annotations

import re
from typing import Iterator

import httpx
import pytest
import sqlalchemy as sa

from extensions import db
from models import Approval, Outbox, OutboxStatus, User
from tests.conftest import CSRF_INPUT
from tests.engine.conftest import compose, http_step
from tests.support.mail import SmtpServer, body

HOOK = "/hook"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_stack(make_stack, smtp):
    return make_stack(**smtp.config, APPROVAL_TTL_HOURS=8)


def _approval_workflow(stack, recorder, instruction=None):
    step = {"toolName": "http_request", "toolInput": {"url": recorder.url + HOOK, "json": {"text": "Ship it"}}}
    if instruction:
        step["instruction"] = instruction
    return stack.create_workflow(goal="Announce the release", steps=[step, compose("done")])


def _link(message) -> str:
    match = re.search(r"(http://127\.0\.0\.1:\d+/approvals/[A-Za-z0-9_.\-]+)", body(message))
    assert match, body(message)
    return match.group(1)


def _errors(stack) -> list[str | None]:
    with stack.db():
        return list(db.session.scalars(sa.select(Outbox.error)))


def _outbox(stack) -> list[tuple[str, str, int]]:
    with stack.db():
        return [(r.dedup_key, r.status.value, r.attempts) for r in db.session.scalars(sa.select(Outbox).order_by(Outbox.id))]


def _state(stack, approval_id: int):
    with stack.db():
        a = db.session.get(Approval, approval_id)
        return a.status, a.decided_at, a.decided_by


def _form_post(client: httpx.Client, url: str, **fields: str) -> httpx.Response:
    token = CSRF_INPUT.search(client.get(url).text).group(1)
    return client.post(url, data={**fields, "csrf_token": token})


def test_approval_email_link_shows_without_deciding_then_approves_once(mail_stack, smtp, recorder):
    stack = mail_stack
    run_id = stack.run_now(_approval_workflow(stack, recorder)["id"])
    approval = stack.wait_approval(run_id)
    (message,) = smtp.wait_for(1)
    assert message["To"] == "owner@example.com" and message["Subject"].startswith("Approval needed: http_request")
    assert message["Message-ID"] == f"<approval-{approval['id']}-request@stepwise>"
    text, html = body(message), body(message, "html")
    assert "Announce the release" in text and "Webhook call: POST " + recorder.url + HOOK in text
    assert '"text": "Ship it"' in text and "Time left to decide: 7 hours 59 minutes" in text
    link = _link(message)
    assert link.startswith(stack.url + "/approvals/") and f'href="{link}"' in html

    before = _state(stack, approval["id"])
    browser = httpx.Client(timeout=10)
    for _ in range(3):  # a mail scanner prefetching, a preview pane, the person
        page = browser.get(link)
        assert page.status_code == 200 and "Approval needed" in page.text and ">Approve</button>" in page.text
    assert _state(stack, approval["id"]) == before and stack.run(run_id)["status"] == "awaiting_approval"

    answer = _form_post(browser, link, decision="approve")
    assert answer.status_code == 200 and "Approved: the run continues" in answer.text
    assert stack.wait_run(run_id)["status"] == "completed"
    assert len(recorder.received(HOOK)) == 1
    status, _, decided_by = _state(stack, approval["id"])
    assert status.value == "approved" and decided_by == "owner@example.com"
    assert stack.run(run_id)["approvals"][0]["channel"] == "email"

    token = CSRF_INPUT.search(browser.get(stack.url + "/auth/login").text).group(1)
    again = browser.post(link, data={"decision": "reject", "csrf_token": token})  # single use
    assert again.status_code == 409 and "already approved by owner@example.com" in again.text
    assert len(recorder.received(HOOK)) == 1


def test_an_expired_link_decides_nothing(mail_stack, smtp, recorder):
    stack = mail_stack
    run_id = stack.run_now(_approval_workflow(stack, recorder)["id"])
    approval = stack.wait_approval(run_id)
    link = _link(smtp.wait_for(1)[0])
    stack.clock.advance(hours=8, minutes=1)
    browser = httpx.Client(timeout=10)
    page = browser.get(link)
    assert page.status_code == 200 and ">Expired</span>" in page.text and ">Approve</button>" not in page.text
    token = CSRF_INPUT.search(browser.get(stack.url + "/auth/login").text).group(1)
    answer = browser.post(link, data={"decision": "approve", "csrf_token": token})
    assert answer.status_code == 409 and "expired" in answer.text
    assert _state(stack, approval["id"])[0].value == "pending"  # the expiry message will expire it
    assert recorder.received(HOOK) == []


def test_reminder_when_a_quarter_of_the_lifetime_is_left(mail_stack, smtp, recorder):
    stack = mail_stack
    run_id = stack.run_now(_approval_workflow(stack, recorder, instruction="Say it with joy")["id"])
    stack.wait_approval(run_id)
    smtp.wait_for(1)
    assert stack.deliver("/api/maintenance/sweep", {}).json()["reminders"] == 0  # too early
    stack.clock.advance(hours=6, minutes=1)  # 8 h lifetime: less than 2 h left
    assert stack.deliver("/api/maintenance/sweep", {}).json()["reminders"] == 1
    request, reminder = smtp.wait_for(2)
    assert reminder["Subject"] == "Reminder: approval needed for “Announce the release”"
    assert "expires in 1 hour 58 minutes" in body(reminder) or "expires in 1 hour 59 minutes" in body(reminder)
    page = httpx.get(_link(reminder), timeout=10)
    assert page.status_code == 200 and "Approval needed" in page.text and "Request changes</button>" in page.text
    assert "request changes" in body(request)
    assert stack.deliver("/api/maintenance/sweep", {}).json()["reminders"] == 0  # once
    assert len(smtp.messages) == 2


def test_run_failed_email_links_to_the_run(mail_stack, smtp, recorder):
    stack = mail_stack
    recorder.respond("/broken", status=400, body="bad request")
    workflow = stack.create_workflow(goal="Call a broken hook", steps=[http_step(recorder.url + "/broken")])
    run_id = stack.run_now(workflow["id"])
    assert stack.wait_run(run_id)["status"] == "failed"
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "Run failed: “Call a broken hook”"
    assert f"{stack.url}/runs/{run_id}" in body(message) and "400" in body(message)


def test_run_completed_email_only_when_chosen(mail_stack, smtp):
    stack = mail_stack
    workflow = stack.create_workflow(goal="Say hello", steps=[compose("hello")])
    assert stack.wait_run(stack.run_now(workflow["id"]))["status"] == "completed"
    with stack.db():
        db.session.get(User, stack.user_id).notify_on_completion = True
        db.session.commit()
    run_id = stack.run_now(workflow["id"])
    assert stack.wait_run(run_id)["status"] == "completed"
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "Run completed: “Say hello”" and f"{stack.url}/runs/{run_id}" in body(message)
    with stack.db():
        keys = list(db.session.scalars(sa.select(Outbox.dedup_key)))
    assert keys == [f"run-{run_id}-completed"]


def test_password_reset_by_email(mail_stack, smtp):
    stack = mail_stack
    browser = httpx.Client(timeout=10, follow_redirects=False)
    answer = _form_post(browser, stack.url + "/auth/reset", email="owner@example.com")
    assert answer.status_code == 200 and "Check your email" in answer.text
    (message,) = smtp.wait_for(1)
    assert message["To"] == "owner@example.com" and message["Subject"] == "Reset your Stepwise password"
    link = re.search(r"(http://127\.0\.0\.1:\d+/auth/reset/\S+)", body(message)).group(1)
    done = _form_post(browser, link, password="a-brand-new-password")
    assert done.status_code == 302
    login = _form_post(browser, stack.url + "/auth/login", email="owner@example.com", password="a-brand-new-password")
    assert login.status_code == 302 and login.headers["Location"] == "/"
    assert browser.get(link).status_code == 410  # used
    with stack.db():
        assert db.session.scalar(sa.select(Outbox.status)) == OutboxStatus.SENT
