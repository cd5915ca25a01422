"""The dashboard's ways on for a stopped run: "Retry from step N" (with "I checked LinkedIn" where
a post may exist), the Cost section with "Resume" for a run the cost guard paused, the budget in
the form, and the undeliverable messages from QStash's DLQ with "Retry" and "Discard"."""
from __future__ import annotations

import re

import pytest

from extensions import db
from models import Run, RunStep, StepStatus, Workflow, WorkflowStep, utcnow
from tests.dashboard.conftest import HTMX, csrf, text_of
from tests.support.dashboard import add_run, add_workflow
from workflows.engine.publishing import STEP_PATH
from workflows.engine.queue_client import OutgoingMessage

WRITE = {"instructions": "A haiku about budgets"}


class NoModel:
    """A configured model that is never called here (pricing needs one configured)."""


@pytest.fixture
def model(app):
    services = app.extensions["stepwise"]
    services.llm = NoModel()
    yield
    services.llm = None


def _steps(statuses: list[str], tools: tuple[str, ...] = ("compose", "http_request", "compose"), **last) -> list[RunStep]:
    now = utcnow()
    return [RunStep(step_index=i, tool_name=tools[i], tool_input={"template": "x"}, status=StepStatus(status),
                    attempts=0 if status in ("pending", "skipped") else 1, started_at=None if status == "skipped" else now,
                    output={"text": f"out {i}"} if status == "completed" else None,
                    error="HTTP 400 from hooks.example" if status == "failed" else None,
                    **(last if i == len(statuses) - 1 else {}))
            for i, status in enumerate(statuses)]


def _run(app, run_id: int) -> Run:
    with app.app_context():
        run = db.session.get(Run, run_id)
        run.steps  # loaded before the context ends
        db.session.expunge_all()
        return run


def test_a_failed_run_is_retried_from_its_failed_step(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user)
        run_id = add_run(workflow_id, "failed", steps=_steps(["completed", "failed", "skipped"]), error="step 2 failed")
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "Retry from step 2" in page and "I checked" not in page
    answer = client.post(f"/runs/{run_id}/retry", data={"csrf_token": csrf(client)})
    assert answer.status_code == 302 and answer.location.endswith(f"/runs/{run_id}")
    assert f"Run #{run_id} runs again from step 2." in client.get(answer.location).get_data(as_text=True)
    run = _run(app, run_id)
    assert run.status.value == "running" and run.retry_count == 1
    assert [s.status.value for s in run.steps] == ["completed", "pending", "pending"]
    assert [m.dedup_id for m in queue.published] == [f"wf-{workflow_id}-run-{run_id}-step-1-retry-1"]


def test_a_linkedin_post_of_unknown_outcome_asks_to_check_linkedin_first(app, client, user, queue):
    with app.app_context():
        run_id = add_run(add_workflow(user), "failed", steps=_steps(
            ["completed", "failed"], ("compose", "linkedin_post"), effect_started_at=utcnow()))
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "I checked LinkedIn" in text_of(page) and 'name="confirmedOutcome"' in page
    refused = client.post(f"/runs/{run_id}/retry", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "Check LinkedIn, then retry" in refused.get_data(as_text=True)
    assert _run(app, run_id).status.value == "failed" and queue.published == []
    client.post(f"/runs/{run_id}/retry", data={"csrf_token": csrf(client), "confirmedOutcome": "true"})
    run = _run(app, run_id)
    assert run.status.value == "running" and run.steps[1].effect_started_at is None


def test_the_cost_section_and_resume_once_the_budget_is_raised(app, client, user, queue, model):
    with app.app_context():
        workflow_id = add_workflow(user, "Daily haiku", budget_usd=0.5, paused=True, steps=[
            WorkflowStep(index=0, tool_name="write", tool_input=WRITE)])
        add_run(workflow_id, "completed", cost_usd=0.25)
        add_run(workflow_id, "completed", cost_usd=0.25)
        run_id = add_run(workflow_id, "paused_budget", steps=_steps(["pending"], ("write",)),
                         error="The cost guard paused this run before step 1 (write)")
    page = client.get(f"/workflows/{workflow_id}").get_data(as_text=True)
    text = text_of(page)
    assert "This month $0.50 of $0.50" in text and "Projected cost of a run $0.25 the median of the last 10 completed runs" in text
    assert "The cost guard paused this workflow." in text and f"Run #{run_id} waits before step 1 ( write )" in text
    resume = re.search(rf'<li id="paused-run-{run_id}">.*?</li>', page, re.S).group(0)
    assert "Raise the budget first" in resume and "disabled" in resume
    assert "disabled" in client.get(f"/runs/{run_id}").get_data(as_text=True).split('id="resume-form"')[1].split("</form>")[0]

    refused = client.post(f"/runs/{run_id}/resume", data={"csrf_token": csrf(client)})
    assert refused.location.endswith(f"/workflows/{workflow_id}#costs") and queue.published == []
    with app.app_context():
        db.session.get(Workflow, workflow_id).budget_usd = 5.0
        db.session.commit()
    resume = re.search(rf'<li id="paused-run-{run_id}">.*?</li>', client.get(f"/workflows/{workflow_id}").get_data(as_text=True), re.S).group(0)
    assert "disabled" not in resume and ">Resume<" in resume
    answer = client.post(f"/runs/{run_id}/resume", data={"csrf_token": csrf(client)})
    assert answer.location.endswith(f"/runs/{run_id}")
    assert [m.dedup_id for m in queue.published] == [f"wf-{workflow_id}-run-{run_id}-step-0-resume-1"]
    assert _run(app, run_id).status.value == "running"
    assert "The cost guard paused this workflow." not in text_of(client.get(f"/workflows/{workflow_id}").get_data(as_text=True))


def test_without_a_budget_the_section_offers_to_set_one(app, client, user):
    with app.app_context():
        workflow_id = add_workflow(user)
    text = text_of(client.get(f"/workflows/{workflow_id}").get_data(as_text=True))
    assert "Budget None. Set a monthly budget to cap what the model may cost." in text
    assert "estimated from the plan's prompts" in text


@pytest.mark.parametrize("typed, stored, error", [
    ("$5", 5.0, None), ("0.25", 0.25, None), ("", None, None),
    ("five", None, "budgetUsd must be a number of US dollars, or null for no budget"),
    ("-2", None, "budgetUsd must be from 0 to 1,000,000 US dollars a month"),
])
def test_the_form_keeps_the_monthly_budget(app, client, user, queue, typed, stored, error):
    with app.app_context():
        workflow_id = add_workflow(user, budget_usd=1.0)
    form = {"csrf_token": csrf(client), "workflow_id": workflow_id, "goal": "Weekly digest", "schedule": "",
            "timezone": "UTC", "overlap": "skip", "steps-0-toolName": "compose", "steps-0-input-template": "hi",
            "budgetUsd": typed}
    answer = client.post(f"/workflows/{workflow_id}/edit", data=form)
    with app.app_context():
        budget = db.session.get(Workflow, workflow_id).budget_usd
    if error:
        html = answer.get_data(as_text=True)
        assert answer.status_code == 422 and f'<small id="budgetUsd-error" class="field-error">{error}</small>' in html
        assert budget == 1.0
    else:
        assert answer.status_code == 302 and budget == stored
        shown = client.get(f"/workflows/{workflow_id}/edit").get_data(as_text=True)
        assert re.search(r'<input id="budgetUsd" name="budgetUsd" type="text"( value="([^"]*)")?', shown).group(2) == \
            (typed.lstrip("$") or None)


def _dead(queue, workflow_id: str, run_id: int, step_index: int, label: str | None = None) -> str:
    body = {"workflowId": workflow_id, "runId": run_id, "conversationId": "conv_x", "stepIndex": step_index}
    message = OutgoingMessage(url="http://127.0.0.1:5000" + STEP_PATH, body=body, label=label or f"wf-{workflow_id}",
                              dedup_id=f"wf-{workflow_id}-run-{run_id}-step-{step_index}")
    return queue.kill(message, 503, '{"error": "the hook answered 503"}').dlq_id


def test_undeliverable_messages_are_listed_retried_through_the_run_and_discarded(app, client, user, queue):
    with app.app_context():
        workflow_id, other = add_workflow(user, "Mine"), add_workflow(user, "Other")
        failed = add_run(workflow_id, "failed", steps=_steps(["completed", "failed", "skipped"]))
        done = add_run(workflow_id, "completed")
        theirs = add_run(other, "failed", steps=_steps(["failed"]))
    retry_id, discard_id = _dead(queue, workflow_id, failed, 1), _dead(queue, workflow_id, done, 0)
    _dead(queue, other, theirs, 0)
    _dead(queue, other, theirs, 0, label=f"wf-{workflow_id}")  # a forged label: its body names the other workflow
    page = client.get(f"/workflows/{workflow_id}").get_data(as_text=True)
    assert f'hx-get="/workflows/{workflow_id}/undeliverable"' in page  # the page itself never waits for QStash

    section = client.get(f"/workflows/{workflow_id}/undeliverable", headers=HTMX).get_data(as_text=True)
    assert section.lstrip().startswith('<section aria-labelledby="undeliverable-title" id="undeliverable">')
    assert re.findall(r'<tr id="dlq-([^"]+)">', section) == [retry_id, discard_id]
    row = section.split(f'<tr id="dlq-{discard_id}">')[1]
    assert "nothing to retry" in row.split("</tr>")[0] and ">Retry<" not in row.split("</tr>")[0]
    assert "503" in section and "the hook answered 503" in section

    retried = client.post(f"/workflows/{workflow_id}/undeliverable/{retry_id}/retry", headers=HTMX,
                          data={"csrf_token": csrf(client)}).get_data(as_text=True)
    assert f"Run #{failed} runs again from step 2." in retried and f'dlq-{retry_id}"' not in retried
    assert _run(app, failed).status.value == "running" and queue.published[-1].dedup_id.endswith("-step-1-retry-1")

    answer = client.post(f"/workflows/{workflow_id}/undeliverable/{discard_id}/discard", data={"csrf_token": csrf(client)})
    assert answer.location.endswith(f"/workflows/{workflow_id}#undeliverable")
    assert discard_id not in queue.dlq and _run(app, done).status.value == "completed"
    assert "None: QStash delivered every step message of this workflow." in client.get(
        f"/workflows/{workflow_id}/undeliverable").get_data(as_text=True)
    other_id = next(iter(queue.dlq))
    missing = client.post(f"/workflows/{workflow_id}/undeliverable/{other_id}/discard", headers=HTMX,
                          data={"csrf_token": csrf(client)}).get_data(as_text=True)
    assert "not found" in missing and other_id in queue.dlq  # another workflow's message is not touched


def test_qstash_unreachable_never_breaks_the_workflow_page(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user, "Still here")
    queue.unreachable = True
    assert client.get(f"/workflows/{workflow_id}").status_code == 200
    section = client.get(f"/workflows/{workflow_id}/undeliverable", headers=HTMX)
    assert section.status_code == 200
    assert "Undeliverable messages could not be loaded: QStash is unreachable" in section.get_data(as_text=True)
