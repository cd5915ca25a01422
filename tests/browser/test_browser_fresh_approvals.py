"""Fresh approvals in headless Chromium: the card shows what changed since the last approved
version with the near-duplicate warning and when the run will be superseded, Approve still
works beside them, a superseded emailed link says by which run, and the form offers the
supersede policy. Desktop and a 390 px phone, screenshots in tests/artifacts/."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, expect

from extensions import db
from models import Approval, ApprovalStatus, Overlap, Run, RunStatus, RunStep, StepStatus, Trigger, Workflow
from tests.browser.conftest import log_in_over_http, screenshot
from tests.browser.test_browser_workflows import DESKTOP, PHONE, artifacts, queue  # noqa: F401 (fixtures)
from tests.support.approvals import EMAIL, POST, approved_before, seed
from workflows.engine import outbox

APPROVED_AT = datetime(2026, 5, 4, 7, 30, tzinfo=timezone.utc)
LAST_WEEK = {**POST, "text": POST["text"].replace("this week", "last week")}
OLD_EMAIL = {**EMAIL, "subject": "Monthly digest", "body": "Hello team,\n\nHere is last month's digest, a little late."}


def _seed_inbox(app) -> tuple[int, int]:
    """A near-duplicate LinkedIn post under supersede, and an email that changed: (post, email)."""
    with app.app_context():
        post, run_id, workflow_id = seed("ada@example.com", "linkedin_post", instruction="Write about AI",
                                         expires_in=timedelta(days=8))
        approved_before(workflow_id, "linkedin_post", LAST_WEEK, APPROVED_AT)
        db.session.execute(sa.update(Workflow).where(Workflow.id == workflow_id).values(
            schedule="0 9 * * 1", timezone="Europe/Berlin", overlap=Overlap.SUPERSEDE, active_run_id=run_id))
        email, _, email_workflow = seed("ada@example.com", "send_email", goal="Send the weekly digest to the team")
        approved_before(email_workflow, "send_email", OLD_EMAIL, APPROVED_AT)
        db.session.commit()
    return post, email


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_inbox_shows_what_changed_and_when_the_run_is_superseded(
        app, new_context: Callable[..., BrowserContext], user, device, artifacts, queue):  # noqa: F811
    post, email = _seed_inbox(app)
    options = PHONE if device == "phone" else DESKTOP
    context = new_context(**options)
    log_in_over_http(context)
    page = context.new_page()
    page.goto("/approvals")
    card = page.locator(f"#approval-{post}")
    expect(card.get_by_role("alert")).to_contain_text("very similar to what you approved on 2026-05-04")
    expect(card.locator(".diff-text del")).to_have_text("last")
    expect(card.locator(".diff-text ins")).to_have_text("this")
    expect(card.get_by_role("note")).to_contain_text("this run will be superseded at")
    other = page.locator(f"#approval-{email}")
    expect(other.locator(".diff-label").first).to_contain_text("Subject")
    expect(other.locator(".diff-text del").first).to_have_text("Monthly")
    expect(other.get_by_role("alert")).to_have_count(0)
    _fits(page, options["viewport"]["width"])
    screenshot(page, artifacts, f"{device}-approvals-what-changed")
    card.screenshot(path=str(artifacts / f"{device}-card-what-changed.png"))  # the README's picture
    with app.app_context():
        outbox.queue_approval_request(app.extensions["stepwise"], post)
        db.session.commit()
    page.goto("/dev/mailbox")
    expect(page.locator(".email-html").first).to_contain_text("very similar to what you approved on 2026-05-04")
    expect(page.locator(".email-html blockquote del").first).to_have_text("last")
    _fits(page, options["viewport"]["width"])
    screenshot(page, artifacts, f"{device}-mailbox-what-changed")
    page.goto("/approvals")

    card.get_by_role("button", name="Approve", exact=True).click()
    expect(card.locator(".decision")).to_contain_text("Approved")
    expect(page.locator("header nav .badge")).to_have_text("1")
    with app.app_context():
        assert db.session.get(Approval, post).status == ApprovalStatus.APPROVED


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_superseded_link_says_by_which_run(app, new_context: Callable[..., BrowserContext], user, device,
                                             artifacts, queue):  # noqa: F811
    with app.app_context():
        approval_id, run_id, workflow_id = seed("ada@example.com", "linkedin_post")
        tick = datetime(2026, 5, 11, 7, 0, tzinfo=timezone.utc)
        newer = Run(workflow_id=workflow_id, conversation_id="conv_newer", trigger=Trigger.SCHEDULE,
                    status=RunStatus.AWAITING_APPROVAL, scheduled_for=tick, created_at=tick)
        db.session.add(newer)
        db.session.flush()
        newer_id = newer.id
        week_before = tick - timedelta(days=7)
        db.session.execute(sa.update(Run).where(Run.id == run_id).values(
            status=RunStatus.SUPERSEDED, superseded_by_id=newer_id, created_at=week_before,
            started_at=week_before, finished_at=tick))
        db.session.execute(sa.update(RunStep).where(RunStep.run_id == run_id).values(
            status=StepStatus.CANCELLED, started_at=week_before, finished_at=tick))
        db.session.execute(sa.update(Approval).where(Approval.id == approval_id).values(
            status=ApprovalStatus.SUPERSEDED, decided_at=tick))
        db.session.commit()
        link = outbox.approval_link(app.extensions["stepwise"], approval_id).removeprefix(
            app.extensions["stepwise"].settings.app_base_url)
    options = PHONE if device == "phone" else DESKTOP
    context = new_context(**options)
    page = context.new_page()  # the emailed link needs no login
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Superseded")
    expect(page.locator(".flash-warn")).to_contain_text("This approval was superseded by the run of 2026-05-11 07:00 UTC")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    _fits(page, options["viewport"]["width"])
    screenshot(page, artifacts, f"{device}-approval-link-superseded")
    page.locator("article.approval-link").screenshot(path=str(artifacts / f"{device}-link-superseded.png"))

    log_in_over_http(context)
    page.goto("/approvals?tab=history")
    row = page.locator(f"#history-{approval_id}")
    expect(row).to_contain_text("Superseded by the run of 2026-05-11 07:00 UTC")
    _fits(page, options["viewport"]["width"])
    screenshot(page, artifacts, f"{device}-approvals-history-superseded")
    row.get_by_role("link", name="2026-05-11 07:00 UTC").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Run #{newer_id}")
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("Superseded")
    expect(page.get_by_role("status").filter(has_text="Superseded by")).to_contain_text(f"run #{newer_id}")
    screenshot(page, artifacts, f"{device}-run-superseded")


def test_the_form_offers_supersede_with_its_sentence(app, signed_in, artifacts, queue):  # noqa: F811
    page = signed_in
    page.goto("/workflows/new?recipe=weekly-note")
    overlap = page.get_by_label("Overlap")
    overlap.select_option("supersede")
    expect(overlap.locator("option:checked")).to_have_text("supersede: the next tick replaces a run still awaiting approval")
    expect(page.locator("#overlap-hint")).to_contain_text("this run will be superseded at <next tick>")
    page.get_by_role("button", name="Create workflow").click()
    expect(page.get_by_text("Overlap: supersede")).to_be_visible()
    with app.app_context():
        assert db.session.scalars(sa.select(Workflow.overlap)).one() == Overlap.SUPERSEDE
    page.goto(page.url + "/edit")
    page.locator("#overlap").scroll_into_view_if_needed()
    screenshot(page, artifacts, "desktop-workflow-form-supersede")
