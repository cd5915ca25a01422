"""Accounts in the browser: register, log out, log in (wrong password, Remember me)."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import EMAIL, EMAIL_FIELD, PASSWORD, PASSWORD_FIELD, log_in, log_in_over_http, screenshot

NAVIGATION = ("Workflows", "Approvals", "Settings")


def field_error(page: Page, field_id: str):
    """The error shown next to a field and tied to it by aria-describedby."""
    return page.locator(f"#{field_id}-error")


def expect_signed_in_navigation(page: Page) -> None:
    nav = page.locator("header nav")
    for name in NAVIGATION:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    expect(nav.get_by_role("link", name="Log in")).to_have_count(0)


def test_register_shows_errors_next_to_fields_then_lands_on_workflows(page: Page, tmp_path):
    page.goto("/auth/register")
    page.get_by_role("button", name="Create account").click()
    expect(field_error(page, "email")).to_have_text("Enter your email address.")
    expect(field_error(page, "password")).to_have_text("Choose a password.")

    page.get_by_label(EMAIL_FIELD).fill(EMAIL)
    page.get_by_label(PASSWORD_FIELD).fill("too-short")
    page.get_by_role("button", name="Create account").click()
    expect(field_error(page, "password")).to_have_text("Password must be at least 10 characters.")
    expect(page.get_by_label(PASSWORD_FIELD)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(PASSWORD_FIELD)).to_have_attribute("aria-describedby", "password-error")
    expect(field_error(page, "email")).to_have_count(0)
    expect(page.get_by_label(EMAIL_FIELD)).to_have_value(EMAIL)

    page.get_by_label(PASSWORD_FIELD).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Workflows")
    expect(page.get_by_role("status")).to_have_text("Welcome to Stepwise.")
    expect_signed_in_navigation(page)
    expect(page.locator("header nav").get_by_role("link", name="Workflows")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="No workflows yet")).to_be_visible()
    screenshot(page, tmp_path, "workflows-empty")


def test_log_out_then_log_in_again_with_remember_me(page: Page, user, tmp_path):
    log_in_over_http(page.context)
    page.goto("/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("/auth/login")
    expect(page.get_by_role("status")).to_have_text("You have been logged out.")
    expect(page.locator("header nav").get_by_role("link", name="Log in")).to_be_visible()
    expect(page.locator("header nav").get_by_role("link", name="Settings")).to_have_count(0)

    # Logged out, Settings sends the browser to the login form, which brings it back after.
    page.goto("/settings")
    page.wait_for_url(re.compile(r"/auth/login\?next=%2Fsettings$"))
    expect(page.get_by_role("status")).to_have_text("Log in to continue.")
    screenshot(page, tmp_path, "login")

    log_in(page, password="not-the-password")
    expect(field_error(page, "password")).to_have_text("Wrong email or password.")
    expect(page.get_by_label(PASSWORD_FIELD)).to_have_value("")
    assert "/auth/login" in page.url

    log_in(page, remember=True)
    page.wait_for_url("/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect_signed_in_navigation(page)

    # Remember me: with the session cookie gone, the remember cookie alone logs Ada back in.
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert "remember_token" in cookies and cookies["remember_token"]["expires"] > 0
    page.context.clear_cookies(name="session")
    page.goto("/approvals")
    expect(page.get_by_role("heading", level=1)).to_have_text("Approvals")
    expect_signed_in_navigation(page)


def test_log_in_without_remember_me_sets_no_remember_cookie(page: Page, user):
    log_in(page)
    page.wait_for_url("/")
    assert "remember_token" not in {cookie["name"] for cookie in page.context.cookies()}
    page.context.clear_cookies(name="session")
    page.goto("/")
    page.wait_for_url(re.compile(r"/auth/login"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
