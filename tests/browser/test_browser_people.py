"""The people side in headless Chromium: Edit & approve inline, Reject, the approvals badge kept
current without a reload, the emailed link approving from a 390 px phone, and screenshots of
every page of this part under tests/artifacts/ (for a person to look at)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from extensions import db
from models import Approval, ApprovalStatus, Outbox
from tests.browser.conftest import EMAIL, document_survived, mark_document, screenshot
from tests.support.approvals import seed
from tests.support.memory_queue import MemoryQueue
from workflows.engine import outbox

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(autouse=True)
def queue(app) -> Iterator[MemoryQueue]:
    """Decisions publish their resume message to a recording queue, not to a QStash."""
    services = app.extensions["stepwise"]
    real, services.queue = services.queue, MemoryQueue()
    yield services.queue
    services.queue = real


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _status(app, approval_id: int) -> ApprovalStatus:
    with app.app_context():
        return db.session.get(Approval, approval_id).status


def _badge(page: Page):
    return page.locator("header nav").get_by_role("link", name=re.compile("^Approvals")).locator(".badge")


def test_edit_and_approve_inline(app, signed_in: Page, artifacts, queue):
    page = signed_in
    with app.app_context():
        approval_id, _, _ = seed(EMAIL, "send_email", goal="Send the weekly digest")
        seed(EMAIL, "linkedin_post", instruction="Write about AI")
    page.goto("/approvals")
    screenshot(page, artifacts, "approvals")
    expect(_badge(page)).to_have_text("2")
    mark_document(page)
    card = page.locator(f"#approval-{approval_id}")
    card.get_by_role("button", name="Edit & approve").click()
    for name in ("to", "subject", "body"):
        expect(card.get_by_label(name, exact=True)).to_be_visible()
    expect(card.get_by_label("subject", exact=True)).to_have_value("Weekly digest")
    card.get_by_label("to", exact=True).fill("not an address")
    card.get_by_label("subject", exact=True).fill("Digest, edited")
    card.get_by_role("button", name="Approve edited").click()
    expect(card.locator(".field-error")).to_contain_text("to must be a valid email address")
    expect(card.get_by_label("subject", exact=True)).to_have_value("Digest, edited")  # kept
    screenshot(page, artifacts, "approvals-edit-error")
    card.get_by_label("to", exact=True).fill("boss@example.com")
    card.get_by_role("button", name="Approve edited").click()
    expect(card.locator(".decision")).to_contain_text("Approved")
    expect(card.locator(".decision")).to_contain_text("by ada@example.com")
    expect(_badge(page)).to_have_text("1")  # out-of-band swap, no reload
    assert document_survived(page)
    with app.app_context():
        approval = db.session.get(Approval, approval_id)
        assert approval.decided_input == {"to": "boss@example.com", "subject": "Digest, edited",
                                          "body": "Hello team,\n\nHere is the digest."}
    assert len(queue.published) == 1


def test_reject_inline_after_confirming(app, signed_in: Page, artifacts):
    page = signed_in
    with app.app_context():
        approval_id, _, _ = seed(EMAIL, "http_request", goal="Tell Slack the report is ready")
    page.goto("/approvals")
    mark_document(page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator(f"#approval-{approval_id}").get_by_role("button", name="Reject").click()
    expect(page.locator(f"#approval-{approval_id} .decision")).to_contain_text("Rejected")
    expect(_badge(page)).to_have_count(0)
    assert document_survived(page) and _status(app, approval_id) == ApprovalStatus.REJECTED
    page.get_by_role("link", name="History").click()
    expect(page.locator(f"#history-{approval_id}")).to_contain_text("Rejected")
    expect(page.locator(f"#history-{approval_id}")).to_contain_text("ada@example.com")
    screenshot(page, artifacts, "approvals-history")


def test_the_badge_updates_by_polling_without_a_reload(app, signed_in: Page):
    page = signed_in
    app.config["BADGE_POLL_SECONDS"] = 1
    try:
        page.goto("/settings")
        expect(_badge(page)).to_have_count(0)
        mark_document(page)
        with app.app_context():
            seed(EMAIL, "http_request")
        expect(_badge(page)).to_have_text("1", timeout=5_000)
        assert document_survived(page)
    finally:
        app.config.pop("BADGE_POLL_SECONDS")


def test_emailed_link_approves_from_a_phone(app, new_context, user, artifacts, queue):
    with app.app_context():
        approval_id, _, _ = seed(EMAIL, "linkedin_post", instruction="Write about AI")
        approval = db.session.get(Approval, approval_id)
        outbox.queue_approval_request(app.extensions["stepwise"], approval.id)
        db.session.commit()
        text = db.session.scalar(sa.select(Outbox.text))
    path = re.search(r"http://[^/\s]+(/approvals/\S+)", text).group(1)
    phone = new_context(**PHONE).new_page()
    phone.goto(path)  # not logged in: the link is enough
    expect(phone.get_by_role("heading", name="Approval needed")).to_be_visible()
    expect(phone.locator(".char-count")).to_contain_text("/ 3,000 characters")
    buttons = phone.locator(".decision-buttons button")
    expect(buttons).to_have_text(["Approve", "Request changes", "Reject"])
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, artifacts, "mobile-approval-link")
    assert _status(app, approval_id) == ApprovalStatus.PENDING  # opening it decided nothing
    phone.get_by_role("button", name="Approve").tap()
    expect(phone.get_by_role("status").first).to_contain_text("Approved: the run continues")
    assert _status(app, approval_id) == ApprovalStatus.APPROVED and len(queue.published) == 1
    screenshot(phone, artifacts, "mobile-approval-link-done")


def test_screenshots_of_every_page_at_desktop_and_phone_width(app, signed_in: Page, new_context, artifacts):
    with app.app_context():
        seed(EMAIL, "send_email", goal="Send the weekly digest")
        seed(EMAIL, "http_request", goal="Tell Slack the report is ready")
        approval_id, _, _ = seed(EMAIL, "linkedin_post", instruction="Write about AI")
        approval = db.session.get(Approval, approval_id)
        outbox.queue_approval_request(app.extensions["stepwise"], approval.id)
        db.session.commit()
    phone = new_context(**PHONE).new_page()
    from tests.browser.conftest import log_in_over_http

    log_in_over_http(phone.context)
    anonymous = new_context(**PHONE).new_page()
    too_wide = {}
    for path, name in (("/approvals", "approvals"), ("/approvals?tab=history", "approvals-history"),
                       ("/settings", "settings"), ("/dev/mailbox", "mailbox")):
        for page, width, suffix in ((signed_in, 1280, "desktop"), (phone, 390, "phone")):
            page.goto(path)
            screenshot(page, artifacts, f"{name}-{suffix}")
            if page.evaluate("document.documentElement.scrollWidth") > width:
                too_wide[f"{path} {suffix}"] = page.evaluate("document.documentElement.scrollWidth")
    expect(signed_in.locator(".email-html a", has_text="Review and decide")).to_have_attribute("href", re.compile(r"^/approvals/"))
    for path, name in (("/auth/login", "login"), ("/auth/reset", "reset")):
        anonymous.goto(path)
        screenshot(anonymous, artifacts, f"{name}-phone")
        if anonymous.evaluate("document.documentElement.scrollWidth") > 390:
            too_wide[path] = anonymous.evaluate("document.documentElement.scrollWidth")
    assert too_wide == {}, f"pages wider than the screen: {too_wide}"
