"""Settings → LinkedIn: paste a token, see errors next to the fields, then the connection."""
from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from models import utcnow
from tests.browser.conftest import document_survived, mark_document, screenshot

ACCESS_TOKEN = "AQXpasted-linkedin-token-123"
MEMBER_ID_ERROR = ("Enter the member id (the `sub` of /v2/userinfo, e.g. 782bbtaQ), "
                   "with or without urn:li:person:.")


def save_token(page: Page, access_token: str, member_id: str, days: str) -> None:
    section = page.locator("#linkedin")
    section.get_by_label("Access token").fill(access_token)
    section.get_by_label("Member id").fill(member_id)
    section.get_by_label("Expires in (days, optional)").fill(days)
    with page.expect_response("**/settings/linkedin/token") as answer:
        section.get_by_role("button", name="Save token").click()
    assert answer.value.request.headers.get("hx-request") == "true"


def test_paste_token_shows_field_errors_then_connected_with_expiry_warning(signed_in: Page, tmp_path):
    page = signed_in
    page.goto("/settings")
    section = page.locator("#linkedin")
    expect(section.locator("#linkedin-status")).to_contain_text("not connected")
    # No LinkedIn OAuth app on this server: the paste form is open and is the only way in.
    expect(section.get_by_role("link", name="Connect LinkedIn")).to_have_count(0)
    expect(section.get_by_label("Access token")).to_be_visible()
    mark_document(page)

    save_token(page, ACCESS_TOKEN, "not a member id", "400")
    expect(section.locator("#linkedin-member_id-error")).to_have_text(MEMBER_ID_ERROR)
    expect(section.locator("#linkedin-expires_in_days-error")).to_have_text(
        "Enter a whole number of days from 1 to 365, or leave it empty.")
    expect(section.locator("#linkedin-member_id")).to_have_attribute("aria-invalid", "true")
    expect(section.locator("#linkedin-access_token-error")).to_have_count(0)
    expect(section.locator("#linkedin-member_id")).to_have_value("not a member id")
    expect(section.locator("#linkedin-access_token")).to_have_value("")  # never sent back
    expect(section.locator("#linkedin-status")).to_contain_text("not connected")

    save_token(page, ACCESS_TOKEN, "782bbtaQ", "30")
    expect(section.get_by_role("status")).to_have_text("LinkedIn token saved.")
    expect(section.locator("#linkedin-status .pill")).to_have_text("connected")
    expect(section.locator("#linkedin-status .pill")).to_have_class("pill pill-ok")
    expect(section.get_by_role("alert")).to_have_count(0)

    before = utcnow()
    save_token(page, ACCESS_TOKEN, "urn:li:person:782bbtaQ", "3")
    after = utcnow()
    expect(section.locator("#linkedin-status .pill")).to_have_text("connected")
    expect(section.locator("#linkedin-status .pill")).to_have_class("pill pill-warn")
    warning = section.get_by_role("alert")
    expect(warning).to_contain_text("Your LinkedIn token expires within 7 days")
    day = warning.inner_text().split("(on ", 1)[1][:10]
    assert day in {f"{moment + timedelta(days=3):%Y-%m-%d}" for moment in (before, after)}
    expect(warning).to_have_text(f"Your LinkedIn token expires within 7 days (on {day}): connect again to "
                                 "renew it, or LinkedIn posts will fail.")
    expect(section.locator("#linkedin-status time")).to_have_text(day)
    expect(section.get_by_role("button", name="Disconnect")).to_be_visible()
    assert document_survived(page), "saving the token reloaded the page instead of swapping #linkedin"
    assert ACCESS_TOKEN not in page.content()
    screenshot(page, tmp_path, "settings-linkedin")
