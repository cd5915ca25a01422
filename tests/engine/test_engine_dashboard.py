"""The dashboard's workflow pages against the real stack (the app on a socket, qstash_dev beside
it): a recipe created through the form runs to completion with no network and no model, and
the form's schedule, Pause, Duplicate and Delete reach QStash."""
from __future__ import annotations

import re

import sqlalchemy as sa
from qstash import QStash

from extensions import db
from models import Outbox, Workflow
from tests.conftest import AuthActions, csrf_from


def _session(stack):
    """A test client of the served app, logged in as the stack's owner through the form."""
    client = stack.app.test_client()
    assert AuthActions(client).login("owner@example.com").status_code == 302
    return client


def _schedules(stack) -> dict[str, object]:
    return {s.schedule_id: s for s in QStash(stack.qstash.token, base_url=stack.qstash.url).schedule.list()}


def _create_from_recipe(client, name: str) -> str:
    """Open the recipe's form and submit it exactly as drawn; the new workflow's id."""
    html = client.get(f"/workflows/new?recipe={name}").get_data(as_text=True)
    fields = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" type="text" value="([^"]*)"', html))
    fields.update(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', html))
    fields.update(re.findall(r'<select id="[^"]+" name="([^"]+)"[^>]*>\s*(?:<option[^>]*>[^<]*</option>\s*)*?'
                             r'<option value="([^"]*)" selected>', html))
    fields.update({name: "on" for name in re.findall(r'name="([^"]+)"\s+checked', html)})
    fields.update(csrf_token=csrf_from(html), workflow_id="")
    fields = {k: v.replace("&#34;", '"').replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">")
              .replace("&amp;", "&") for k, v in fields.items()}
    response = client.post("/workflows/new", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    return response.location.rsplit("/", 1)[1]


def test_the_weekly_note_recipe_runs_to_completion_with_no_network(stack):
    client = _session(stack)
    workflow_id = _create_from_recipe(client, "weekly-note")
    page = client.get(f"/workflows/{workflow_id}").get_data(as_text=True)
    assert "Every Monday morning, email me my weekly planning note" in page and "At 08:00 AM, only on Monday" in page
    assert f"wf-{workflow_id}" in _schedules(stack)

    response = client.post(f"/workflows/{workflow_id}/run", data={"csrf_token": csrf_from(page)})
    run_id = int(response.location.rsplit("/", 1)[1])
    approval = stack.wait_approval(run_id)
    assert approval["toolName"] == "send_email" and approval["proposedInput"]["to"] == "owner@example.com"
    assert "Your note for the week" in approval["proposedInput"]["subject"]
    assert "Three things that matter this week" in approval["proposedInput"]["body"]
    assert stack.decide(approval["id"], decision="approve").status_code == 200
    assert stack.wait_run(run_id)["status"] == "completed"

    html = client.get(f"/runs/{run_id}").get_data(as_text=True)
    run_div = re.search(r'<div id="run"[^>]*>', html).group(0)
    assert 'id="run-status">Completed<' in html and "hx-trigger" not in run_div  # polling stopped
    with stack.db():
        mail = db.session.scalars(sa.select(Outbox).where(Outbox.subject == "Your note for the week")).one()
        assert mail.to == "owner@example.com" and "Three things that matter this week" in mail.text


def test_pause_duplicate_and_delete_reach_qstash(stack):
    client = _session(stack)
    workflow_id = _create_from_recipe(client, "feed-digest-webhook")
    token = csrf_from(client.get(f"/workflows/{workflow_id}").get_data(as_text=True))
    assert _schedules(stack)[f"wf-{workflow_id}"].cron == "0 9 * * 1"

    client.post(f"/workflows/{workflow_id}/pause", data={"csrf_token": token})
    assert _schedules(stack)[f"wf-{workflow_id}"].paused is True

    copy_id = client.post(f"/workflows/{workflow_id}/duplicate", data={"csrf_token": token}).location.rsplit("/", 1)[1]
    assert copy_id != workflow_id and _schedules(stack)[f"wf-{copy_id}"].paused is True

    client.post(f"/workflows/{workflow_id}/delete", data={"csrf_token": token})
    schedules = _schedules(stack)
    assert f"wf-{workflow_id}" not in schedules and f"wf-{copy_id}" in schedules
    with stack.db():
        assert db.session.get(Workflow, workflow_id) is None and db.session.get(Workflow, copy_id).paused is True
