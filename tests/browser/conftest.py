"""The dashboard in headless Chromium: one browser and one app on a real loopback socket per
session, empty tables and fresh browser contexts per test.

The console errors and uncaught exceptions of every test's pages are collected and must be none
when the test ends: a Content-Security-Policy violation is a console error, so this is what
proves the strict CSP leaves htmx and the pages working.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, sync_playwright

from extensions import db
from models import (
    Approval,
    ApprovalStatus,
    Run,
    RunStatus,
    RunStep,
    StepStatus,
    Trigger,
    Workflow,
    WorkflowStep,
    utcnow,
)
from tests.conftest import add_user, clean_tables, csrf_from, make_app
from tests.support.live_server import LiveServer
from tests.support.stack_tier import stack_fixture
from workflows.integrations import accounts

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
EMAIL = "ada@example.com"
PASSWORD = "correct-horse-1"
EMAIL_FIELD = re.compile(r"^Email$")
PASSWORD_FIELD = re.compile(r"^Password$")
# Playwright waits this long for an element (ms); a local page that takes longer is a failure.
TIMEOUT_MS = 5_000


@stack_fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, launched once for the whole session."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def browser_app(migrated: str):
    """One app for the session, with CSRF on and no LinkedIn OAuth app (tokens are pasted)."""
    app = make_app(migrated, WTF_CSRF_ENABLED=True, LINKEDIN_CLIENT_ID="", LINKEDIN_CLIENT_SECRET="")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@stack_fixture(scope="session")
def server(browser_app) -> Iterator[LiveServer]:
    """The app over a real socket on loopback, for the whole session (tables are emptied per test)."""
    with LiveServer(browser_app) as live:
        yield live


@pytest.fixture
def app(browser_app, server: LiveServer):
    """The served app, on empty tables."""
    with browser_app.app_context():
        clean_tables()
    return browser_app


@dataclass
class Console:
    """Console errors and uncaught exceptions of every page of the test's contexts.

    One console line is not an error of the page: a form re-rendered with its validation errors
    is answered 422 (the contract of tests/app/test_auth.py), and Chromium logs "Failed to load
    resource" for any 4xx document. Only that line, for a document answered 422, is left out.
    """

    seen: list[tuple[str, str]] = field(default_factory=list)  # (message, source URL)
    rejected_documents: set[str] = field(default_factory=set)

    def on_response(self, response: Response) -> None:
        if response.status == 422 and response.request.resource_type == "document":
            self.rejected_documents.add(response.url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append((message.text, message.location.get("url", "")))

    def on_page_error(self, web_error: Any) -> None:
        self.seen.append((f"uncaught exception: {web_error.error}", ""))

    @property
    def errors(self) -> list[str]:
        """What went wrong, decided once all events are in (a response may trail its log line)."""
        return [f"{text} ({source})" for text, source in self.seen
                if not (source in self.rejected_documents and text.startswith("Failed to load resource")
                        and "status of 422" in text)]

    def take(self) -> list[str]:
        """Hand over the errors seen so far (for a test that provokes one on purpose)."""
        taken, self.seen = self.errors, []
        return taken


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_context(browser: Browser, app, server: LiveServer, console: Console) -> Iterator[Callable[..., BrowserContext]]:
    """Make fresh browser contexts on the live server; the test fails if any logged an error."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("response", console.on_response)
        context.on("console", console.on_console)
        context.on("weberror", console.on_page_error)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not console.errors, "the pages logged errors:\n" + "\n".join(console.errors)


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh desktop context."""
    return new_context(viewport={"width": 1280, "height": 800}).new_page()


@pytest.fixture
def user(app) -> tuple[str, str]:
    """Ada's account, written directly with a quick hash (tests/conftest.py add_user): (email, password)."""
    with app.app_context():
        add_user(EMAIL, PASSWORD)
    return EMAIL, PASSWORD


def log_in(page: Page, email: str = EMAIL, password: str = PASSWORD, remember: bool = False) -> None:
    """Fill in the login form and submit it."""
    if "/auth/login" not in page.url:
        page.goto("/auth/login")
    page.get_by_label(EMAIL_FIELD).fill(email)
    page.get_by_label(PASSWORD_FIELD).fill(password)
    page.get_by_label("Remember me").set_checked(remember)
    page.get_by_role("button", name="Log in").click()


def log_in_over_http(context: BrowserContext, email: str = EMAIL, password: str = PASSWORD) -> None:
    """Log in with the context's own cookie jar, without drawing the form (tested on its own)."""
    token = csrf_from(context.request.get("/auth/login").text())
    answer = context.request.post("/auth/login", form={"email": email, "password": password, "csrf_token": token})
    assert answer.ok and answer.url.endswith("/"), answer.url


@pytest.fixture
def signed_in(page: Page, user: tuple[str, str]) -> Page:
    """A page on which Ada is logged in, showing Workflows."""
    log_in_over_http(page.context)
    page.goto("/")
    return page


def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A full-page screenshot, for a human to look at (not compared by the tests).

    caret="initial": hiding the caret makes Playwright leave `style=""` on every input, which
    htmx's settle step then copies onto swapped-in inputs, a CSP violation the app never causes.
    """
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, caret="initial")
    return path


def mark_document(page: Page) -> None:
    """Tag the current document; `document_survived` tells whether a navigation replaced it."""
    page.evaluate("window.__stepwiseMarker = 'same-document'")


def document_survived(page: Page) -> bool:
    return page.evaluate("window.__stepwiseMarker === 'same-document'")


GOAL = "Tell the team's Slack channel when the weekly report is ready"
WEBHOOK = {"url": "https://hooks.example.com/weekly", "method": "POST", "json": {"text": "Report ready"}}


def seed_approval(owner_email: str, status: ApprovalStatus) -> tuple[int, int]:
    """A workflow with one `http_request` step needing approval, a run waiting at it, and its
    approval in `status`: (approval id, run id). Needs an app context.

    The engine needs QStash to bring a run this far, so the rows are written directly, in the
    state the engine leaves them in: step `awaiting_approval`, approval pending.
    """
    owner = accounts.user_by_email(owner_email)
    now = utcnow()
    workflow = Workflow(owner_id=owner.id, goal=GOAL, steps=[
        WorkflowStep(index=0, tool_name="http_request", tool_input=WEBHOOK, needs_approval=True)])
    run = Run(workflow=workflow, conversation_id=uuid.uuid4().hex, trigger=Trigger.MANUAL,
              status=RunStatus.AWAITING_APPROVAL, started_at=now)
    step = RunStep(run=run, step_index=0, tool_name="http_request", tool_input=WEBHOOK, needs_approval=True,
                   status=StepStatus.AWAITING_APPROVAL, attempts=1, input=WEBHOOK, started_at=now)
    approval = Approval(run_step=step, run=run, status=status, proposed_input=WEBHOOK,
                        expires_at=now + timedelta(hours=24))
    db.session.add_all([workflow, run, step, approval])
    db.session.commit()
    return approval.id, run.id
