"""Approvals: the pending count in the navigation and the pending approval's row."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from extensions import db
from models import Approval, ApprovalStatus
from tests.browser.conftest import GOAL, screenshot, seed_approval
from workflows.integrations import accounts


def test_pending_approval_shows_in_the_list_and_as_the_navigation_badge(app, user, signed_in: Page, tmp_path):
    page = signed_in
    with app.app_context():
        accounts.create_user("bob@example.com", "correct-horse-2")
        approval_id, run_id = seed_approval("ada@example.com", ApprovalStatus.PENDING)
        seed_approval("ada@example.com", ApprovalStatus.APPROVED)  # decided: not counted
        seed_approval("bob@example.com", ApprovalStatus.PENDING)  # someone else's: not counted
        expires_at = db.session.get(Approval, approval_id).expires_at

    page.reload()
    approvals_link = page.locator("header nav").get_by_role("link", name="Approvals")
    badge = approvals_link.locator(".badge")
    expect(badge).to_have_text("1")
    expect(badge).to_have_attribute("title", "1 pending")
    expect(page.locator("table tbody tr")).to_have_count(2)  # Ada's two workflows
    expect(page.locator("table tbody tr").first).to_contain_text(GOAL)
    screenshot(page, tmp_path, "workflows")

    approvals_link.click()
    page.wait_for_url("/approvals")
    expect(approvals_link).to_have_attribute("aria-current", "page")
    expect(badge).to_have_text("1")
    cards = page.locator("#pending article.approval")
    expect(cards).to_have_count(1)
    card = page.locator(f"#approval-{approval_id}")
    expect(card.get_by_role("link", name=GOAL)).to_have_attribute("href", re.compile(r"^/workflows/"))
    expect(card).to_contain_text(f"Step 1 · http_request · run #{run_id}")
    expect(card.locator(".time-left")).to_contain_text(f"(until {expires_at:%Y-%m-%d %H:%M} UTC)")
    screenshot(page, tmp_path, "approvals")


def test_no_badge_and_an_empty_state_without_pending_approvals(signed_in: Page):
    page = signed_in
    page.goto("/approvals")
    expect(page.locator("header nav .badge")).to_have_count(0)
    expect(page.get_by_role("heading", name="Nothing waits for you")).to_be_visible()
