"""The workflow side of the dashboard in headless Chromium: a workflow built by hand with its
schedule described live, Plan with AI against the scripted model server, a run page that
updates itself until the run ends, a phone without sideways scrolling, no console errors.
Screenshots of every page land in tests/artifacts/ for a person to look at."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect
from werkzeug.security import generate_password_hash

from extensions import db
from models import Asset, Run, RunStatus, RunStep, StepStatus, User, Workflow, utcnow
from tests.browser.conftest import (
    EMAIL,
    PASSWORD,
    TIMEOUT_MS,
    Console,
    document_survived,
    log_in_over_http,
    mark_document,
    screenshot,
)
from tests.conftest import LiveServer, clean_tables, make_app
from tests.support.dashboard import add_run, add_workflow
from tests.support.memory_queue import MemoryQueue
from tests.support.fake_openai import FakeOpenAI

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def queue(app) -> Iterator[MemoryQueue]:
    """QStash as a dictionary for the served app (tests/engine/test_engine_dashboard.py uses the real one)."""
    services = app.extensions["stepwise"]
    real, services.queue = services.queue, MemoryQueue()
    yield services.queue
    services.queue = real


def htmx_idle(page: Page) -> None:
    """Wait until htmx has no request in flight and has settled what it swapped in (and bound its
    attributes), as a person who reads before clicking would."""
    # Polled from here: wait_for_function evaluates a string in the page, which the CSP forbids.
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while page.evaluate("!!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"):
        assert time.monotonic() < deadline, "htmx did not settle"
        time.sleep(0.02)


def owner_id(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == EMAIL))


def test_build_a_workflow_by_hand_with_the_schedule_described_live(app, signed_in: Page, queue, artifacts):
    page = signed_in
    page.get_by_role("link", name="New workflow").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New workflow")
    mark_document(page)
    page.get_by_label("Goal").fill("Every Monday, tell me what the week holds")

    page.get_by_role("button", name="Add step").click()
    htmx_idle(page)
    page.locator("#steps-0-toolName").select_option("compose")
    expect(page.get_by_label("template", exact=True)).to_be_visible()
    page.get_by_label("template", exact=True).fill("A new week for: {{ workflow.goal }}")
    page.get_by_role("button", name="Test step").click()
    expect(page.locator("#steps-0-trial")).to_contain_text("A new week for: Every Monday, tell me what the week holds")

    htmx_idle(page)
    page.get_by_role("button", name="Add step").click()
    htmx_idle(page)
    page.locator("#steps-1-toolName").select_option("send_email")
    expect(page.get_by_label("subject")).to_be_visible()
    htmx_idle(page)
    page.get_by_label("to", exact=True).fill(EMAIL)
    page.get_by_label("subject").fill("This week")
    page.get_by_label("body").fill("{{ steps[0].output.text }}")
    approval = page.locator("#steps-1-needsApproval")
    expect(approval).to_be_checked()  # send_email's policy
    page.once("dialog", lambda dialog: dialog.dismiss())
    approval.click()
    expect(approval).to_be_checked()  # switching approval off asks first; dismissed, it stays on

    schedule = page.get_by_label("Schedule")
    schedule.press_sequentially("0 9 * *")
    expect(page.locator("#schedule-preview")).to_contain_text("has 4 fields; expected 5")
    schedule.press_sequentially(" 1")
    expect(page.locator("#schedule-words")).to_have_text("At 09:00 AM, only on Monday")
    expect(page.locator("#next-runs li")).to_have_count(5)
    page.get_by_label("Timezone").select_option("Europe/Berlin")
    expect(page.locator("#next-runs li").first).to_contain_text(re.compile(r"09:00 CES?T"))
    page.get_by_label("Preset").select_option("weekdays")
    expect(schedule).to_have_value("0 9 * * 1-5")
    expect(page.locator("#schedule-words")).to_have_text("At 09:00 AM, Monday through Friday")
    assert document_survived(page), "nothing may have been submitted yet"
    screenshot(page, artifacts, "desktop-workflow-form")

    page.get_by_role("button", name="Create workflow").click()
    page.wait_for_url(re.compile(r"/workflows/[0-9a-f]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Every Monday, tell me what the week holds")
    expect(page.get_by_text("At 09:00 AM, Monday through Friday")).to_be_visible()
    with app.app_context():
        workflow = db.session.scalars(sa.select(Workflow)).one()
        assert (workflow.schedule, workflow.timezone) == ("0 9 * * 1-5", "Europe/Berlin")
        assert [(s.tool_name, s.needs_approval) for s in workflow.steps] == [("compose", False), ("send_email", True)]
    assert queue.schedules[f"wf-{workflow.id}"]["cron"] == "CRON_TZ=Europe/Berlin 0 9 * * 1-5"
    screenshot(page, artifacts, "desktop-workflow")


def test_a_mistake_is_shown_beside_its_field_and_nothing_is_stored(app, signed_in: Page, queue):
    page = signed_in
    page.goto("/workflows/new?recipe=feed-digest-webhook")
    page.get_by_label("url").first.fill("not a feed address")
    page.get_by_role("button", name="Create workflow").click()
    expect(page.locator("#steps-0-input-url-error")).to_have_text("url must be an http or https URL")
    expect(page.get_by_label("url").first).to_have_attribute("aria-invalid", "true")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Workflow.id))) == 0


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_page(browser: Browser, migrated: str, fake: FakeOpenAI, console: Console) -> Iterator[tuple[Page, Any]]:
    """A page on an app that has a model (the scripted server), Ada logged in; (page, app)."""
    app = make_app(migrated, WTF_CSRF_ENABLED=True, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test",
                   LLM_MODEL="gpt-4o-mini")
    with app.app_context():
        clean_tables()
        db.session.add(User(email=EMAIL, password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")))
        db.session.commit()
    server = LiveServer(app).start()
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    context.on("response", console.on_response)
    context.on("console", console.on_console)
    context.on("weberror", console.on_page_error)
    log_in_over_http(context)
    yield context.new_page(), app
    context.close()
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    assert not console.errors, "the pages logged errors:\n" + "\n".join(console.errors)


PLAN = {"steps": [
    {"toolName": "fetch_feed", "toolInput": {"url": "https://blog.python.org/feeds/posts/default", "limit": 5,
                                             "sinceLastRun": True}, "instruction": ""},
    {"toolName": "compose", "toolInput": {"template": "{% for i in steps[0].output.items %}- {{ i.title }}\n{% endfor %}"},
     "instruction": ""},
    {"toolName": "send_email", "toolInput": {"to": EMAIL, "subject": "Python news", "body": "{{ steps[1].output.text }}"},
     "instruction": ""},
]}


def test_plan_with_ai_replaces_the_step_list_with_the_models_plan(llm_page, fake, artifacts):
    page, app = llm_page
    fake.enqueue_json(PLAN, prompt_tokens=900, completion_tokens=150)
    page.goto("/workflows/new")
    page.get_by_label("Goal").fill("Every Monday, email me what is new on the Python blog")
    page.get_by_role("button", name="Add step").click()  # a step by hand, which the plan replaces
    htmx_idle(page)
    mark_document(page)
    page.get_by_role("button", name="Plan with AI").click()
    expect(page.get_by_text("Plan with AI proposed 3 steps")).to_be_visible()
    expect(page.locator("#steps-0-toolName")).to_have_value("fetch_feed")
    expect(page.locator("#steps-1-toolName")).to_have_value("compose")
    expect(page.locator("#steps-2-toolName")).to_have_value("send_email")
    expect(page.locator("#steps-2-input-to")).to_have_value(EMAIL)
    expect(page.locator("#steps-2-needsApproval")).to_be_checked()  # the tool's policy, never the model's
    assert document_survived(page)
    (request,) = fake.requests
    assert "Every Monday, email me what is new on the Python blog" in request.messages[-1]["content"]
    screenshot(page, artifacts, "desktop-plan-with-ai")

    page.get_by_role("button", name="Create workflow").click()
    page.wait_for_url(re.compile(r"/workflows/[0-9a-f]+$"))
    with app.app_context():
        workflow = db.session.scalars(sa.select(Workflow)).one()
        assert [s.tool_name for s in workflow.steps] == ["fetch_feed", "compose", "send_email"]


def _running_run(app) -> int:
    """A run whose first step completed and whose second is running, as the engine leaves it."""
    now, owner = utcnow(), owner_id(app)
    with app.app_context():
        workflow_id = add_workflow(owner, "Weekly digest")
        return add_run(workflow_id, "running", now, steps=[
            RunStep(step_index=0, tool_name="fetch_feed", tool_input={"url": "https://example.com/feed"},
                    status=StepStatus.COMPLETED, attempts=1, started_at=now, finished_at=now, output={"items": []}),
            RunStep(step_index=1, tool_name="compose", tool_input={"template": "hi"}, status=StepStatus.RUNNING,
                    attempts=1, started_at=now)])


def test_the_run_page_updates_itself_from_running_to_completed(app, signed_in: Page, artifacts):
    page = signed_in
    run_id = _running_run(app)
    polls: list[float] = []
    page.on("request", lambda r: polls.append(time.monotonic()) if r.url.endswith(f"/runs/{run_id}")
            and r.headers.get("hx-request") else None)
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("Running")
    expect(page.locator("#run-step-1 .status")).to_have_text("Running")
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    page.locator("#run-step-0-input summary").click()  # a reader opens a step's input...
    mark_document(page)
    with app.app_context():
        run = db.session.get(Run, run_id)
        run.steps[1].status, run.steps[1].finished_at, run.steps[1].output = StepStatus.COMPLETED, utcnow(), {"text": "hi"}
        run.status, run.finished_at = RunStatus.COMPLETED, utcnow()
        db.session.add(Asset(run_id=run_id, step_index=1, kind="markdown", title="Digest", content="# Digest\n\n**hi**"))
        db.session.commit()
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=8_000)
    expect(page.locator("#run-step-1 .status")).to_have_text("Completed")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.locator(".markdown strong")).to_have_text("hi")
    expect(page.locator("#run-step-0-input")).to_have_attribute("open", "")  # ...and it stays open across polls
    assert document_survived(page), "the page must update in place, not reload"
    expect(page.locator("#run")).not_to_have_attribute("hx-trigger", re.compile("every"))
    seen = len(polls)
    page.wait_for_timeout(3_000)  # polling stopped once the run ended: no request in a full interval and more
    assert len(polls) == seen, f"{len(polls) - seen} polls after the run had ended"
    screenshot(page, artifacts, "desktop-run")


def test_an_assets_copy_button_copies_its_markdown(app, new_context: Callable[..., BrowserContext], user):
    owner = owner_id(app)
    with app.app_context():
        run_id = add_run(add_workflow(owner, "Weekly digest"), "completed")
        db.session.add(Asset(run_id=run_id, step_index=0, kind="markdown", title="Post", content="**Hello** _world_"))
        db.session.commit()
    context = new_context(**DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in_over_http(context)
    page = context.new_page()
    page.goto(f"/runs/{run_id}")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "**Hello** _world_"


def _seed_every_page(app) -> tuple[str, int]:
    owner = owner_id(app)
    with app.app_context():
        workflow_id = add_workflow(owner, "Every Monday, send the team chat what is new on the Python blog",
                                   "0 9 * * 1", timezone="Europe/Berlin")
        add_workflow(owner, "A paused one with a long goal that wraps on a phone screen", "0 7 * * *", paused=True)
        for status in ["completed"] * 8 + ["failed", "skipped", "awaiting_approval"]:
            add_run(workflow_id, status)
    return workflow_id, _running_run(app)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_every_workflow_page_fits_the_screen(app, new_context: Callable[..., BrowserContext], user, device, artifacts):
    workflow_id, run_id = _seed_every_page(app)
    options = PHONE if device == "phone" else DESKTOP
    context = new_context(**options)
    log_in_over_http(context)
    page = context.new_page()
    width = options["viewport"]["width"]
    pages = [("/", "workflows"), ("/workflows/new?recipe=feed-digest-webhook", "workflow-form"),
             (f"/workflows/{workflow_id}", "workflow"), (f"/workflows/{workflow_id}/edit", "workflow-edit"),
             (f"/workflows/{workflow_id}/delete", "workflow-delete"), ("/runs", "runs"), (f"/runs/{run_id}", "run")]
    too_wide = {}
    for path, name in pages:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        screenshot(page, artifacts, f"{device}-{name}-seeded")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > width:
            too_wide[path] = scroll_width
    assert too_wide == {}, f"pages wider than a {width}px screen: {too_wide}"
    for name in ("Workflows", "Runs", "Approvals", "Settings"):
        box = page.locator("header nav").get_by_role("link", name=name, exact=True).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{name} is off the screen"
