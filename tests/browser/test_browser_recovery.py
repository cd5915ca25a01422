"""Stopped runs in headless Chromium: the cost guard's "Resume" once the budget is raised in the
form, "Retry from step N" with "I checked LinkedIn", and the undeliverable messages with "Retry"
and "Discard"; at desktop width and on a 390 px phone, screenshots in tests/artifacts/."""
from __future__ import annotations

import re
from typing import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from extensions import db
from models import Run, RunStep, StepStatus, WorkflowStep, utcnow
from tests.browser.conftest import log_in_over_http, screenshot
from tests.browser.test_browser_workflows import DESKTOP, PHONE, artifacts, htmx_idle, owner_id, queue  # noqa: F401
from tests.support.dashboard import add_run, add_workflow
from workflows.engine.publishing import STEP_PATH
from workflows.engine.queue_client import OutgoingMessage


class NoModel:
    """A configured model (so the step's prompt is priced) that these pages never call."""


@pytest.fixture
def model(app) -> Iterator[None]:
    services = app.extensions["stepwise"]
    services.llm = NoModel()
    yield
    services.llm = None


def _open(new_context: Callable[..., BrowserContext], device: str) -> tuple[Page, int]:
    """A logged-in page at desktop width or on a phone, and its width."""
    options = PHONE if device == "phone" else DESKTOP
    context = new_context(**options)
    log_in_over_http(context)
    return context.new_page(), options["viewport"]["width"]


def _status(app, run_id: int) -> str:
    with app.app_context():
        return db.session.get(Run, run_id).status.value


def _paused_by_the_guard(app) -> tuple[str, int]:
    """A daily haiku whose budget this month's two runs used up, and the run the guard paused."""
    haiku = {"instructions": "A haiku about today's weather in Berlin"}
    now = utcnow()
    with app.app_context():
        workflow_id = add_workflow(owner_id(app), "Write a daily haiku about the weather in Berlin", "0 7 * * *",
                                   budget_usd=0.5, paused=True, timezone="Europe/Berlin",
                                   steps=[WorkflowStep(index=0, tool_name="write", tool_input=haiku)])
        for _ in range(2):
            add_run(workflow_id, "completed", cost_usd=0.25, steps=[RunStep(
                step_index=0, tool_name="write", tool_input=haiku, status=StepStatus.COMPLETED, attempts=1,
                started_at=now, finished_at=now, cost_usd=0.25, output={"text": "Grey sky over Spree"})])
        run_id = add_run(workflow_id, "paused_budget", error=(
            "The cost guard paused this run before step 1 (write): this month's spend $0.50 plus the step's expected "
            "$0.25 would exceed the monthly budget of $0.50 (month from 2026-12-01, CET). Raise the budget, then resume the run."),
            steps=[RunStep(step_index=0, tool_name="write", tool_input=haiku)])
    return workflow_id, run_id


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_raise_the_budget_in_the_form_then_resume_the_paused_run(app, new_context: Callable[..., BrowserContext], user,
                                                                 queue, model, artifacts, device):  # noqa: F811
    workflow_id, run_id = _paused_by_the_guard(app)
    page, width = _open(new_context, device)
    page.goto(f"/workflows/{workflow_id}")
    costs = page.locator("#costs")
    expect(costs).to_contain_text("The cost guard paused this workflow.")
    expect(costs.locator("#month-spend")).to_have_text("$0.50")
    expect(costs.locator("#projected-cost")).to_have_text("$0.25")
    resume = costs.get_by_role("button", name="Resume")
    expect(resume).to_be_disabled()
    expect(costs).to_contain_text("Raise the budget first")
    costs.scroll_into_view_if_needed()
    screenshot(page, artifacts, f"{device}-cost-guard")
    costs.screenshot(path=str(artifacts / f"{device}-cost-guard-section.png"), caret="initial")  # the README's
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    costs.get_by_role("link", name="Edit").click()
    budget = page.get_by_label("Monthly budget (USD)")
    expect(budget).to_have_value("0.5")
    budget.fill("5")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(rf"/workflows/{workflow_id}$"))
    expect(page.locator("#budget")).to_have_text("$5.00")
    resume = page.locator("#costs").get_by_role("button", name="Resume")
    expect(resume).to_be_enabled()
    resume.click()
    page.wait_for_url(re.compile(rf"/runs/{run_id}$"))
    expect(page.get_by_text(f"Run #{run_id} resumed.")).to_be_visible()
    expect(page.locator("#run-status")).to_have_text("Running")
    assert [m.dedup_id for m in queue.published] == [f"wf-{workflow_id}-run-{run_id}-step-0-resume-1"]


def _linkedin_run_of_unknown_outcome(app) -> int:
    now = utcnow()
    with app.app_context():
        workflow_id = add_workflow(owner_id(app), "Publish a weekly LinkedIn post about AI trends")
        return add_run(workflow_id, "failed", error="step 2 (linkedin_post) failed: outcome unknown — check LinkedIn",
                       steps=[RunStep(step_index=0, tool_name="write", tool_input={}, status=StepStatus.COMPLETED,
                                      attempts=1, started_at=now, finished_at=now, output={"text": "Small models win."}),
                              RunStep(step_index=1, tool_name="linkedin_post", tool_input={"text": "Small models win."},
                                      status=StepStatus.FAILED, attempts=1, started_at=now, finished_at=now,
                                      effect_started_at=now,
                                      error="outcome unknown — check LinkedIn: LinkedIn answered HTTP 502")])


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_retry_from_the_failed_step_once_linkedin_was_checked(app, new_context: Callable[..., BrowserContext], user,
                                                              queue, artifacts, device):  # noqa: F811
    run_id = _linkedin_run_of_unknown_outcome(app)
    page, width = _open(new_context, device)
    page.goto(f"/runs/{run_id}")
    retry = page.get_by_role("button", name="Retry from step 2")
    expect(retry).to_be_visible()
    screenshot(page, artifacts, f"{device}-retry")
    page.screenshot(path=str(artifacts / f"{device}-retry-top.png"), caret="initial")  # the README's: what fits a screen
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    retry.click()
    expect(page.locator(".flash-error").first).to_contain_text("Check LinkedIn, then retry")
    assert _status(app, run_id) == "failed" and queue.published == []
    page.get_by_label("I checked LinkedIn").check()
    page.get_by_role("button", name="Retry from step 2").click()
    expect(page.get_by_text(f"Run #{run_id} runs again from step 2.")).to_be_visible()
    expect(page.locator("#run-status")).to_have_text("Running")
    assert [m.dedup_id.rsplit("-", 4)[1:] for m in queue.published] == [["step", "1", "retry", "1"]]


def _dead(queue, workflow_id: str, run_id: int, step_index: int) -> str:  # noqa: F811
    body = {"workflowId": workflow_id, "runId": run_id, "conversationId": "conv_x", "stepIndex": step_index}
    message = OutgoingMessage(url="http://127.0.0.1:5000" + STEP_PATH, body=body, label=f"wf-{workflow_id}",
                              dedup_id=f"wf-{workflow_id}-run-{run_id}-step-{step_index}")
    return queue.kill(message, 503, '{"error": "hooks.example answered 503 Service Unavailable"}').dlq_id


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_undeliverable_messages_are_retried_and_discarded(app, new_context: Callable[..., BrowserContext], user,
                                                          queue, artifacts, device):  # noqa: F811
    now = utcnow()
    with app.app_context():
        workflow_id = add_workflow(owner_id(app), "Tell the team channel when the weekly report is ready")
        failed = add_run(workflow_id, "failed", steps=[RunStep(
            step_index=0, tool_name="http_request", tool_input={}, status=StepStatus.FAILED, attempts=4,
            started_at=now, finished_at=now, error="gave up after 3 retries; last answer 503")])
        done = add_run(workflow_id, "completed")
    _dead(queue, workflow_id, failed, 0)
    _dead(queue, workflow_id, done, 0)
    page, width = _open(new_context, device)
    page.goto(f"/workflows/{workflow_id}")
    section = page.locator("#undeliverable")
    expect(section.locator("tbody tr")).to_have_count(2)
    htmx_idle(page)
    section.scroll_into_view_if_needed()
    screenshot(page, artifacts, f"{device}-undeliverable")
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    section.get_by_role("button", name="Retry").click()
    expect(page.locator("#undeliverable")).to_contain_text(f"Run #{failed} runs again from step 1.")
    expect(page.locator("#undeliverable tbody tr")).to_have_count(1)
    assert _status(app, failed) == "running"
    htmx_idle(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#undeliverable").get_by_role("button", name="Discard").click()
    expect(page.locator("#undeliverable")).to_contain_text("None: QStash delivered every step message of this workflow.")
    assert queue.dlq == {} and _status(app, done) == "completed"

    queue.unreachable = True
    page.reload()
    expect(page.locator("#undeliverable-error")).to_contain_text("Undeliverable messages could not be loaded")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tell the team channel when the weekly report is ready")
