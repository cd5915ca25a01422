"""Runs: every run newest first with a status filter, and a run's page: statuses as their
capitalised contract words, attempts, durations, tokens and cost, SVG bars, sanitised assets with
a copy button, the LinkedIn link, the conversation collapsed, Cancel run, and polling that stops."""
from __future__ import annotations

import re
from datetime import timedelta

from extensions import db
from models import Approval, ApprovalStatus, Asset, Message, Run, RunStatus, RunStep, StepStatus, utcnow
from tests.dashboard.conftest import HTMX, csrf, text_of
from tests.support.dashboard import add_run, add_workflow


def _steps(now, statuses: list[str]) -> list[RunStep]:
    steps = []
    for i, status in enumerate(statuses):
        started = now + timedelta(seconds=2 * i) if status not in ("pending", "skipped") else None
        finished = started + timedelta(seconds=1.5) if status in ("completed", "failed") else None
        steps.append(RunStep(step_index=i, tool_name=["fetch_feed", "compose", "linkedin_post"][i % 3],
                             tool_input={"template": "x"}, status=StepStatus(status), attempts=2 if status == "failed" else 1,
                             started_at=started, finished_at=finished, output={"text": f"out {i}"} if status == "completed" else None,
                             error="HTTP 404 from example.com" if status == "failed" else None))
    return steps


def test_runs_lists_every_workflows_runs_newest_first_and_filters_by_status(app, client, user, other_user):
    now = utcnow()
    with app.app_context():
        a, b = add_workflow(user, "Alpha"), add_workflow(user, "Beta")
        first = add_run(a, "completed", now - timedelta(hours=2))
        second = add_run(b, "failed", now - timedelta(hours=1))
        theirs = add_run(add_workflow(other_user, "Bob's"), "failed")
    html = client.get("/runs").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'<tr id="run-(\d+)">', html)]
    assert ids == [second, first] and theirs not in ids
    assert ">Alpha<" in html and ">Beta<" in html and ">Completed<" in html and ">Failed<" in html
    failed = client.get("/runs?status=failed", headers=HTMX).get_data(as_text=True)
    assert failed.lstrip().startswith('<div id="run-list"') and re.findall(r'<tr id="run-(\d+)">', failed) == [str(second)]
    assert "No expired runs" in client.get("/runs?status=expired").get_data(as_text=True)


def test_run_page_shows_each_step_and_its_bar(app, client, user):
    now = utcnow() - timedelta(minutes=1)
    with app.app_context():
        run_id = add_run(add_workflow(user), "failed", now, steps=_steps(now, ["completed", "failed", "skipped"]),
                         prompt_tokens=1200, completion_tokens=300, cost_usd=0.0042, error="step 2 failed")
        db.session.get(RunStep, db.session.get(Run, run_id).steps[0].id).prompt_tokens = 1200
        db.session.commit()
    html = client.get(f"/runs/{run_id}").get_data(as_text=True)
    text = text_of(html)
    assert 'id="run-status">Failed<' in html
    for words in ("Step 1 fetch_feed", "Step 2 compose", "Attempts: 2", "Duration: 1.5 s", "HTTP 404 from example.com",
                  "Tokens: 1200 in, 0 out", "1500 tokens (1200 in, 300 out) · $0.0042", "step 2 failed"):
        assert words in text, words
    assert ">Skipped<" in html and ">Completed<" in html
    bars = re.findall(r'<rect class="bar bar-(\w+)" x="([\d.]+)" y="0" width="([\d.]+)"', html)
    assert [b[0] for b in bars] == ["completed", "failed"]  # the skipped step never started: no bar
    assert float(bars[1][1]) > float(bars[0][1])  # the second step starts later on the same axis
    assert "hx-trigger" not in html.split('id="run"')[1].split(">")[0]  # finished: no polling


def test_an_active_run_polls_itself_and_the_partial_comes_back_alone(app, client, user):
    now = utcnow()
    with app.app_context():
        run_id = add_run(add_workflow(user), "awaiting_approval", now, steps=_steps(now, ["completed", "awaiting_approval"]))
    html = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert re.search(rf'<div id="run" class="run" hx-get="/runs/{run_id}" hx-trigger="every 2s" hx-swap="outerHTML">', html)
    assert "Awaiting approval" in html and "Cancel run" in html and "Decide in Approvals" in html
    partial = client.get(f"/runs/{run_id}", headers=HTMX).get_data(as_text=True)
    assert partial.lstrip().startswith('<div id="run"')
    assert "<html" not in partial
    with app.app_context():
        db.session.get(Run, run_id).status = RunStatus.COMPLETED
        db.session.commit()
    done = client.get(f"/runs/{run_id}", headers=HTMX).get_data(as_text=True)
    assert "hx-trigger" not in done and "Cancel run" not in done and 'id="run-status">Completed<' in done


def test_assets_are_sanitised_markdown_with_a_copy_button_and_the_linkedin_link_shows(app, client, user):
    now = utcnow()
    with app.app_context():
        steps = _steps(now, ["completed", "completed", "completed"])
        steps[2].output = {"postId": "urn:li:share:7", "url": "https://www.linkedin.com/feed/update/urn:li:share:7/"}
        run_id = add_run(add_workflow(user), "completed", now, steps=steps)
        db.session.add(Asset(run_id=run_id, step_index=1, kind="markdown", title="Draft", mime_type="text/markdown",
                             content="# Weekly\n\n**Bold** <script>alert(1)</script> [x](javascript:alert(1))"))
        db.session.commit()
    html = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "<h1>Weekly</h1>" in html and "<strong>Bold</strong>" in html
    assert "<script>alert" not in html and 'href="javascript' not in html
    assert re.search(r'<button type="button" class="[^"]*copy" data-copy="asset-\d+-source" hidden>Copy</button>', html)
    assert 'href="https://www.linkedin.com/feed/update/urn:li:share:7/"' in html and "View the post on LinkedIn" in html


def test_the_model_conversation_is_collapsed(app, client, user):
    with app.app_context():
        run_id = add_run(add_workflow(user))
        conversation = db.session.get(Run, run_id).conversation_id
        db.session.add_all([Message(conversation_id=conversation, position=0, role="system", content="Be brief"),
                            Message(conversation_id=conversation, position=1, role="assistant", step_index=0,
                                    tool_calls=[{"id": "call_1", "function": {"name": "compose"}}])])
        db.session.commit()
    html = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert re.search(r'<details id="run-conversation" class="conversation">\s*<summary>Model conversation \(2 messages\)', html)
    assert "Be brief" in html and "call_1" in html


def test_cancel_run_cancels_waiting_steps_and_their_approval(app, client, user, queue):
    now = utcnow()
    with app.app_context():
        run_id = add_run(add_workflow(user), "awaiting_approval", now, steps=_steps(now, ["completed", "awaiting_approval"]))
        step = db.session.get(Run, run_id).steps[1]
        db.session.add(Approval(run_step=step, run_id=run_id, proposed_input={}, expires_at=now + timedelta(hours=1)))
        db.session.commit()
    response = client.post(f"/runs/{run_id}/cancel", data={"csrf_token": csrf(client)}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="run"') and f"Run #{run_id} was cancelled." in html
    assert 'id="run-status">Cancelled<' in html and "hx-trigger" not in html
    with app.app_context():
        run = db.session.get(Run, run_id)
        assert run.status == RunStatus.CANCELLED and run.steps[1].status == StepStatus.CANCELLED
        assert db.session.scalars(db.select(Approval)).one().status == ApprovalStatus.CANCELLED
    again = client.post(f"/runs/{run_id}/cancel", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "had already finished; nothing was cancelled" in again.get_data(as_text=True)


def test_another_users_run_is_a_404(app, client, user, other_user):
    with app.app_context():
        theirs = add_run(add_workflow(other_user), "running")
    assert client.get(f"/runs/{theirs}").status_code == 404
    assert client.post(f"/runs/{theirs}/cancel", data={"csrf_token": csrf(client)}).status_code == 404
    with app.app_context():
        assert db.session.get(Run, theirs).status == RunStatus.RUNNING


def test_pages_need_a_login(client):
    for path in ("/runs", "/runs/1", "/workflows/new", "/workflows/abc"):
        assert client.get(path).status_code == 302


def test_a_step_that_needed_approval_reads_approved_once_it_ran(app, client, user):
    now = utcnow() - timedelta(minutes=1)
    with app.app_context():
        steps = [RunStep(step_index=0, tool_name="send_email", tool_input={}, needs_approval=True, attempts=2,
                         status=StepStatus.COMPLETED, started_at=now, finished_at=now, output={"messageId": "m"}),
                 RunStep(step_index=1, tool_name="http_request", tool_input={}, needs_approval=True,
                         status=StepStatus.AWAITING_APPROVAL, started_at=now)]
        run_id = add_run(add_workflow(user), "awaiting_approval", now, steps=steps)
    text = text_of(client.get(f"/runs/{run_id}").get_data(as_text=True))
    assert "· Approved" in text.split("Step 2")[0]
    assert "Needs approval" in text.split("Step 2")[1] and "Approved" not in text.split("Step 2")[1]
