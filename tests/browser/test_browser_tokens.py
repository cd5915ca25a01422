"""API tokens on Settings: created and revoked through htmx swaps, checked against the real API."""
from __future__ import annotations

import httpx
from playwright.sync_api import Dialog, Page, expect

from tests.browser.conftest import document_survived, mark_document, screenshot


def api_status(server, token: str) -> int:
    """The status `GET /api/workflows` answers a client sending this Bearer token."""
    response = httpx.get(f"{server.url}/api/workflows", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    if response.status_code == 200:
        assert response.json() == {"items": [], "nextCursor": None}
    return response.status_code


def test_create_token_swaps_the_section_and_the_token_works_until_revoked(signed_in: Page, server, tmp_path):
    page = signed_in
    page.locator("header nav").get_by_role("link", name="Settings").click()
    page.wait_for_url("/settings")
    tokens = page.locator("#tokens")
    expect(tokens.get_by_text("No tokens yet.")).to_be_visible()
    mark_document(page)

    page.get_by_label("Token name").fill("CI")
    with page.expect_response("**/settings/tokens") as created:
        tokens.get_by_role("button", name="Create token").click()
    assert created.value.request.headers.get("hx-request") == "true"
    new_token = tokens.locator("#new-token")
    expect(new_token).to_be_visible()
    token = new_token.inner_text().strip()
    assert token.startswith("sw_") and len(token) > 20
    expect(tokens.get_by_role("status")).to_contain_text("copy it now, it will not be shown again")
    row = tokens.locator("tbody tr", has_text="CI")
    expect(row).to_have_count(1)
    expect(row.locator("code")).to_have_text(f"{token[:10]}…")
    assert document_survived(page), "creating a token reloaded the page instead of swapping #tokens"
    screenshot(page, tmp_path, "settings-new-token")

    assert api_status(server, token) == 200

    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Revoke").click()
    expect(row.locator(".pill")).to_have_text("revoked")
    assert dialogs == ["Revoke “CI”? Clients using it will get 401 at once."]
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    expect(tokens.locator("#new-token")).to_have_count(0)
    assert document_survived(page), "revoking reloaded the page instead of swapping #tokens"

    assert api_status(server, token) == 401

    # Shown once: a fresh load of Settings lists the token by its prefix only.
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()


def test_dismissing_the_revoke_dialog_keeps_the_token(signed_in: Page, server):
    page = signed_in
    page.goto("/settings")
    page.get_by_label("Token name").fill("Zapier")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    revokes: list[str] = []
    page.on("request", lambda request: revokes.append(request.url) if request.url.endswith("/revoke") else None)

    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator("#tokens tbody tr", has_text="Zapier").get_by_role("button", name="Revoke").click()
    page.evaluate("1")  # a round trip: htmx would have sent the request before this returns
    assert dialogs and revokes == []
    expect(page.locator("#tokens tbody tr", has_text="Zapier").get_by_role("button", name="Revoke")).to_be_visible()
    assert api_status(server, token) == 200
