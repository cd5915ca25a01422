"""A phone-sized screen (390×844): the navigation and the token form stay usable."""
from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from models import ApprovalStatus
from tests.browser.conftest import EMAIL, log_in, screenshot, seed_approval
from workflows.integrations import accounts

WIDTH = 390
PHONE = {"viewport": {"width": WIDTH, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
NAVIGATION = ("Workflows", "Approvals", "Settings")


@pytest.fixture
def phone(new_context, user) -> Page:
    """A phone on which Ada has logged in through the form."""
    page = new_context(**PHONE).new_page()
    log_in(page)
    page.wait_for_url("/")
    return page


def off_screen(locator: Locator) -> bool:
    """True when the element sticks out of the screen sideways (reached only by scrolling)."""
    box = locator.bounding_box()
    return box is None or box["x"] < 0 or box["x"] + box["width"] > WIDTH


def test_phone_navigation_reaches_every_page(phone: Page):
    nav = phone.locator("header nav")
    for name in ("Approvals", "Settings", "Workflows"):
        nav.get_by_role("link", name=name, exact=True).tap()
        expect(phone.get_by_role("heading", level=1)).to_have_text(name)
        expect(nav.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")


def test_phone_navigation_fits_the_screen_and_logs_out(phone: Page):
    nav = phone.locator("header nav")
    items = [nav.get_by_role("link", name=name, exact=True) for name in NAVIGATION]
    items.append(nav.get_by_role("button", name="Log out"))
    for item in items:
        expect(item).to_be_visible()
    outside = [item.inner_text() for item in items if off_screen(item)]
    assert outside == [], f"navigation items off a {WIDTH}px screen: {outside}"
    nav.get_by_role("button", name="Log out").tap()
    expect(phone.get_by_role("status")).to_have_text("You have been logged out.")


def test_phone_token_form_creates_a_token(phone: Page):
    phone.goto("/settings")
    create = phone.get_by_role("button", name="Create token")
    expect(create).to_be_visible()
    assert not off_screen(create) and not off_screen(phone.get_by_label("Token name"))
    phone.get_by_label("Token name").fill("Phone")
    create.tap()
    expect(phone.locator("#new-token")).to_be_visible()
    expect(phone.locator("#tokens tbody tr", has_text="Phone")).to_have_count(1)


def test_phone_pages_do_not_scroll_sideways(app, new_context, phone: Page, tmp_path):
    with app.app_context():
        seed_approval(EMAIL, ApprovalStatus.PENDING)
        accounts.create_token(accounts.user_by_email(EMAIL), "Phone")
    logged_out = new_context(**PHONE).new_page()
    pages = [(logged_out, "/auth/login", "login"), (phone, "/", "workflows"),
             (phone, "/approvals", "approvals"), (phone, "/settings", "settings")]
    too_wide = {}
    for page, path, name in pages:
        page.goto(path)
        screenshot(page, tmp_path, f"mobile-{name}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            too_wide[path] = width
    assert too_wide == {}, f"pages wider than a {WIDTH}px screen (px): {too_wide}"
