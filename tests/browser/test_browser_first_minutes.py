"""The first three minutes, as a newcomer meets them, in headless Chromium against the real stack.

No model, no SMTP server, no account anywhere: register → the empty Workflows page offers
"Recipes" → a recipe opens the form prefilled → "Create workflow" → "Run now" → the approval
email arrives in the dev mailbox → its link approves → the run page shows the run completed.
The app is served on a socket with qstash_dev beside it (tests/engine/conftest.py), so every
step is a real signed QStash delivery. Screenshots of each page land in tests/artifacts/.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import TIMEOUT_MS, Console, screenshot
from tests.engine.conftest import make_stack, qstash  # noqa: F401  (fixtures: the real stack)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "first-minutes"
NEWCOMER = "grace@example.com"
PASSWORD = "a-long-enough-password"


@pytest.fixture
def stack_page(browser: Browser, make_stack) -> Iterator[tuple[Page, Console]]:  # noqa: F811
    """A desktop page on a freshly built stack; the test fails if any page logged an error."""
    stack = make_stack()
    console = Console()
    # A newcomer in Berlin: times on the pages are shown in the browser's zone.
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 800},
                                  timezone_id="Europe/Berlin")
    context.set_default_timeout(TIMEOUT_MS)
    context.on("response", console.on_response)
    context.on("console", console.on_console)
    context.on("weberror", console.on_page_error)
    yield context.new_page(), console
    context.close()
    assert not console.errors, "the pages logged errors:\n" + "\n".join(console.errors)


def test_register_recipe_create_run_approve_by_email_and_see_it_completed(stack_page):
    page, _ = stack_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    page.goto("/auth/register")
    page.get_by_label("Email").fill(NEWCOMER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", name="Recipes")).to_be_visible()
    screenshot(page, ARTIFACTS, "1-empty-workflows")
    recipe = page.locator('a[href="/workflows/new?recipe=weekly-note"]').first
    expect(recipe).to_be_visible()
    recipe.click()

    expect(page).to_have_url(re.compile(r"/workflows/new\?recipe=weekly-note$"))
    expect(page.get_by_label("Goal")).not_to_have_value("")
    expect(page.get_by_label("to", exact=True).first).to_have_value(NEWCOMER)  # "me" is the newcomer
    screenshot(page, ARTIFACTS, "2-recipe-form")
    page.get_by_role("button", name="Create workflow").click()

    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f]+$"))
    screenshot(page, ARTIFACTS, "3-workflow")
    page.get_by_role("button", name="Run now").click()

    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    run_url = page.url
    # The run page updates by itself: the approval step is reached without a reload.
    expect(page.locator("#run-status")).to_have_text("Awaiting approval", timeout=20_000)
    expect(page.get_by_text(re.compile(r"started \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? CET"))).to_be_visible()
    screenshot(page, ARTIFACTS, "4-run-waiting")

    page.goto("/dev/mailbox")
    email = page.locator("article", has_text="Approval needed").first
    expect(email).to_be_visible()
    screenshot(page, ARTIFACTS, "5-dev-mailbox")
    email.get_by_role("link", name="Review and decide").click()

    expect(page).to_have_url(re.compile(r"/approvals/[^/]+$"))
    screenshot(page, ARTIFACTS, "6-approval-link")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_text("Approved", exact=False).first).to_be_visible()

    page.goto(run_url)
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=20_000)
    screenshot(page, ARTIFACTS, "7-run-completed")
    # The approved email itself was written to the outbox by the step, so it shows in the mailbox.
    page.goto("/dev/mailbox")
    expect(page.locator("article", has_text="Your note for the week").first).to_be_visible()
