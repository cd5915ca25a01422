"""The workflows list and a workflow's page: what each shows, filters, pagination, actions
(their SQL statements per page: test_page_statements.py)."""
from __future__ import annotations

import json

import re
from datetime import timedelta

import sqlalchemy as sa

from extensions import db
from models import Run, RunStatus, Workflow, utcnow
from tests.dashboard.conftest import HTMX, csrf, text_of
from tests.support.dashboard import add_run, add_workflow


def test_empty_list_offers_the_recipes(client, user):
    html = client.get("/").get_data(as_text=True)
    assert "No workflows yet" in html and ">Recipes<" in html and "New workflow" in html
    assert html.count('href="/workflows/new?recipe=') >= 4


def test_each_workflow_shows_goal_link_schedule_in_words_next_run_and_recent_runs(app, client, user):
    client.set_cookie("tz", "America/New_York")
    with app.app_context():
        weekly = add_workflow(user, "Weekly digest", "0 9 * * 1", timezone="Europe/Berlin")
        paused = add_workflow(user, "Paused one", "0 9 * * 1", paused=True)
        runs = [add_run(weekly, status, utcnow() - timedelta(minutes=40 - i))
                for i, status in enumerate(["failed"] + ["completed"] * 34 + ["running"])]
    html = client.get("/").get_data(as_text=True)
    row = re.search(rf'<tr id="workflow-{weekly}">(.*?)</tr>', html, re.S).group(1)
    assert f'<a href="/workflows/{weekly}">Weekly digest</a>' in row
    assert "At 09:00 AM, only on Monday" in row and "Europe/Berlin" in row
    assert re.search(r"<time datetime=\"[^\"]+\+0[12]:00\">\d{4}-\d\d-\d\d 0[23]:00 E[SD]T</time>", row)  # New York time
    squares = re.findall(r'class="sq sq-(\w+)"', row)
    assert len(squares) == 30 and squares[-1] == "running" and "failed" not in squares  # the last 30, oldest first
    assert f'/runs/{runs[-1]}"' in row and f'/runs/{runs[0]}"' not in row
    paused_row = re.search(rf'<tr id="workflow-{paused}">(.*?)</tr>', html, re.S).group(1)
    assert ">Paused<" in paused_row and "No runs yet" in paused_row


def test_text_filter_and_the_htmx_list(app, client, user):
    with app.app_context():
        add_workflow(user, "Weekly AI digest")
        add_workflow(user, "Daily 100% check_up")
    html = client.get("/?q=ai+DIG").get_data(as_text=True)
    assert "Weekly AI digest" in html and "Daily 100% check_up" not in html
    assert "Weekly AI digest" not in client.get("/?q=100%25").get_data(as_text=True)  # % is a character, not a wildcard
    fragment = client.get("/?q=nothing+like+this", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="workflow-list"') and "<html" not in fragment
    assert "No workflows match “nothing like this”" in fragment


def test_the_list_is_paginated(app, client, user):
    with app.app_context():
        for i in range(30):
            add_workflow(user, f"Workflow number {i:02d}")
    first = client.get("/").get_data(as_text=True)
    assert "Workflow number 29" in first and "Workflow number 04" not in first
    older = re.search(r'href="([^"]*cursor=[^"]+)">Older', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert "Workflow number 04" in second and "Workflow number 29" not in second and "Newest" in second


def test_another_users_workflows_are_not_listed_nor_found(app, client, user, other_user):
    with app.app_context():
        theirs = add_workflow(other_user, "Bob's secret plan")
        add_run(theirs)
    assert "Bob&#39;s secret plan" not in client.get("/").get_data(as_text=True)
    for method, path in [("GET", f"/workflows/{theirs}"), ("GET", f"/workflows/{theirs}/delete"),
                         ("POST", f"/workflows/{theirs}/run"), ("POST", f"/workflows/{theirs}/pause"),
                         ("POST", f"/workflows/{theirs}/duplicate"), ("POST", f"/workflows/{theirs}/delete")]:
        response = client.open(path, method=method, data={"csrf_token": csrf(client)})
        assert response.status_code == 404, (method, path)
    with app.app_context():
        assert db.session.get(Workflow, theirs) is not None and db.session.scalar(sa.select(sa.func.count(Run.id))) == 1


def test_workflow_page_shows_steps_schedule_and_history_filtered_by_status(app, client, user):
    with app.app_context():
        workflow_id = add_workflow(user, "Weekly digest", "0 9 * * 1")
        failed = add_run(workflow_id, "failed")
        completed = add_run(workflow_id, "completed")
    html = client.get(f"/workflows/{workflow_id}").get_data(as_text=True)
    text = text_of(html)
    for words in ("Run now", "Edit", "Pause", "Duplicate", "Delete", "At 09:00 AM, only on Monday", "Next runs"):
        assert words in text
    assert "<code>compose</code>" in html and f'href="/runs/{failed}"' in html and f'href="/runs/{completed}"' in html
    only_failed = client.get(f"/workflows/{workflow_id}?status=failed", headers=HTMX).get_data(as_text=True)
    assert only_failed.lstrip().startswith('<div id="run-list"')
    assert f'href="/runs/{failed}"' in only_failed and f'href="/runs/{completed}"' not in only_failed
    assert ">Failed<" in only_failed
    bad = client.get(f"/workflows/{workflow_id}?status=exploded")
    assert bad.status_code == 422 and "status must be one of" in bad.get_data(as_text=True)


def test_pause_and_resume_change_the_qstash_schedule(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user, "Weekly", "0 9 * * 1", qstash_schedule_id=None)
    queue.upsert_schedule(f"wf-{workflow_id}", "http://127.0.0.1/api/workflows/trigger", {"workflowId": workflow_id}, "0 9 * * 1")
    client.post(f"/workflows/{workflow_id}/pause", data={"csrf_token": csrf(client)})
    html = client.get(f"/workflows/{workflow_id}").get_data(as_text=True)
    assert queue.schedules[f"wf-{workflow_id}"]["isPaused"] is True
    assert "Paused: the schedule starts no runs" in html and ">Resume<" in html
    client.post(f"/workflows/{workflow_id}/resume", data={"csrf_token": csrf(client)})
    assert queue.schedules[f"wf-{workflow_id}"]["isPaused"] is False


def test_a_failed_action_says_why_and_changes_nothing(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user, "Weekly", "0 9 * * 1")
    queue.upsert_schedule(f"wf-{workflow_id}", "http://127.0.0.1/api/workflows/trigger", {"workflowId": workflow_id}, "0 9 * * 1")
    queue.unreachable = True
    response = client.post(f"/workflows/{workflow_id}/pause", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "QStash is unreachable" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Workflow, workflow_id).paused is False


def test_run_now_starts_a_manual_run_and_opens_it(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user)
    response = client.post(f"/workflows/{workflow_id}/run", data={"csrf_token": csrf(client)})
    with app.app_context():
        run = db.session.scalars(sa.select(Run)).one()
        assert run.trigger.value == "manual" and run.status == RunStatus.PENDING
    assert response.status_code == 302 and response.location.endswith(f"/runs/{run.id}")
    assert queue.published[0].dedup_id == f"wf-{workflow_id}-run-{run.id}-step-0"


def test_duplicate_makes_a_paused_copy_with_a_paused_schedule(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user, "Weekly", "0 9 * * 1", timezone="Europe/Paris")
    response = client.post(f"/workflows/{workflow_id}/duplicate", data={"csrf_token": csrf(client)})
    with app.app_context():
        copy = db.session.scalars(sa.select(Workflow).where(Workflow.id != workflow_id)).one()
        assert (copy.goal, copy.paused, copy.schedule, copy.timezone) == ("Copy of Weekly", True, "0 9 * * 1", "Europe/Paris")
        assert [s.tool_input for s in copy.steps] == [{"template": "hi"}]
    assert response.location.endswith(f"/workflows/{copy.id}")
    schedule = queue.schedules[f"wf-{copy.id}"]
    assert (schedule["cron"], schedule["isPaused"]) == ("CRON_TZ=Europe/Paris 0 9 * * 1", True)
    assert json.loads(schedule["body"]) == {"workflowId": copy.id}


def test_delete_asks_first_then_removes_the_workflow_its_runs_and_schedule(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user, "Doomed", "0 9 * * 1", qstash_schedule_id="placeholder")
        db.session.get(Workflow, workflow_id).qstash_schedule_id = f"wf-{workflow_id}"
        db.session.commit()
        add_run(workflow_id)
    queue.upsert_schedule(f"wf-{workflow_id}", "http://127.0.0.1/api/workflows/trigger", {"workflowId": workflow_id}, "0 9 * * 1")
    page = client.get(f"/workflows/{workflow_id}")
    assert f'href="/workflows/{workflow_id}/delete"' in page.get_data(as_text=True)
    confirm = client.get(f"/workflows/{workflow_id}/delete").get_data(as_text=True)
    assert "Delete this workflow?" in confirm and "Doomed" in confirm
    with app.app_context():
        assert db.session.get(Workflow, workflow_id) is not None  # asking deletes nothing
    response = client.post(f"/workflows/{workflow_id}/delete", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "Deleted “Doomed” and its schedule." in response.get_data(as_text=True)
    assert queue.schedules == {}
    with app.app_context():
        assert db.session.get(Workflow, workflow_id) is None and db.session.scalar(sa.select(sa.func.count(Run.id))) == 0

