"""The New workflow / Edit form: recipes, saving through the API's validation, errors beside
their fields with nothing stored, the step-list fragments, Plan with AI without a model,
Test step, and the schedule described as it is typed."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from markupsafe import escape

from extensions import db
from models import Workflow
from tests.dashboard.conftest import EMAIL, HTMX, csrf, text_of
from tests.support.dashboard import add_workflow
from workflows.authoring.planning import NO_LLM_MESSAGE
from workflows.authoring.recipes import RECIPES


def form(token: str, **fields: str) -> dict[str, str]:
    """A filled-in form as the browser posts it."""
    return {"csrf_token": token, "workflow_id": "", "goal": "Say hello every Monday", "schedule": "",
            "timezone": "UTC", "overlap": "skip", **fields}


def compose_step(i: int = 0, template: str = "Hello") -> dict[str, str]:
    return {f"steps-{i}-toolName": "compose", f"steps-{i}-input-template": template}


def count_workflows(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Workflow.id)))


def field_error(html: str, form_id: str) -> str:
    """The message shown beside a field (the small element the field's aria-describedby names)."""
    match = re.search(rf'<small id="{re.escape(form_id)}-error" class="field-error">(.*?)</small>', html, re.S)
    assert match, f"no error beside {form_id}"
    return match.group(1).strip()


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_recipe_opens_the_form_prefilled(client, user, name):
    html = client.get(f"/workflows/new?recipe={name}").get_data(as_text=True)
    recipe = RECIPES[name]
    assert str(escape(recipe.goal)) in html and f'value="{recipe.schedule}"' in html
    for i, step in enumerate(recipe.steps(EMAIL)):
        assert re.search(rf'<select id="steps-{i}-toolName"[^>]*>.*?<option value="{step["toolName"]}" selected>', html, re.S)
    if any(s["toolName"] == "send_email" for s in recipe.steps(EMAIL)):
        assert f'value="{EMAIL}"' in html  # "me" is the user who opened it


def test_an_unknown_recipe_is_a_404_that_names_the_recipes(client, user):
    response = client.get("/workflows/new?recipe=world-domination")
    assert response.status_code == 404 and "weekly-note" in response.get_data(as_text=True)


def test_the_form_has_its_contract_labels_and_the_browsers_zone(client, user):
    client.set_cookie("tz", "Asia/Tokyo")
    html = client.get("/workflows/new").get_data(as_text=True)
    for label in ("Goal", "Schedule", "Timezone", "Overlap"):
        assert f">{label}</label>" in html
    assert "Plan with AI" in html and "Add step" in html and "Create workflow" in html and ">Recipes<" in html
    assert '<option value="Asia/Tokyo" selected>' in html
    assert NO_LLM_MESSAGE in text_of(html)  # no model: the button says what to set


def test_create_stores_the_workflow_and_opens_its_page(app, client, user, queue):
    token = csrf(client)
    response = client.post("/workflows/new", data=form(token, schedule="0 9 * * 1", timezone="Europe/Berlin",
                                                       **compose_step(), **{
        "steps-1-toolName": "send_email", "steps-1-input-to": EMAIL, "steps-1-input-subject": "Hi",
        "steps-1-input-body": "{{ steps[0].output.text }}", "steps-1-needsApproval": "on"}))
    assert response.status_code == 302
    with app.app_context():
        workflow = db.session.scalars(sa.select(Workflow)).one()
        assert response.location.endswith(f"/workflows/{workflow.id}")
        assert (workflow.goal, workflow.schedule, workflow.timezone) == ("Say hello every Monday", "0 9 * * 1", "Europe/Berlin")
        assert [(s.tool_name, s.needs_approval) for s in workflow.steps] == [("compose", False), ("send_email", True)]
        assert queue.schedules[f"wf-{workflow.id}"]["cron"] == "CRON_TZ=Europe/Berlin 0 9 * * 1"


def test_every_problem_is_shown_beside_its_field_and_nothing_is_stored(app, client, user, queue):
    token = csrf(client)
    response = client.post("/workflows/new", data=form(
        token, goal="", schedule="0 9 * *", timezone="Mars/Olympus", **{
            "steps-0-toolName": "fetch_feed", "steps-0-input-url": "not a url",
            "steps-1-toolName": "http_request", "steps-1-input-url": "https://hooks.example/x",
            "steps-1-input-json": '{"text": broken}'}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "goal") == "goal must not be empty"
    assert "5 fields" in field_error(html, "schedule")
    assert "unknown timezone" in field_error(html, "timezone")
    assert field_error(html, "steps-0-input-url") == "url must be an http or https URL"
    assert field_error(html, "steps-1-input-json").startswith("json is not valid JSON")
    assert 'value="not a url"' in html  # what was typed stays
    assert count_workflows(app) == 0 and queue.schedules == {}


def test_a_reference_to_a_later_step_is_shown_beside_its_field(app, client, user):
    response = client.post("/workflows/new", data=form(csrf(client), **compose_step(0, "{{ steps[1].output.text }}"),
                                                       **compose_step(1)))
    assert response.status_code == 422
    assert "refers to the current or a later step" in field_error(response.get_data(as_text=True), "steps-0-input-template")
    assert count_workflows(app) == 0


def test_a_form_without_steps_says_so(app, client, user, queue):
    response = client.post("/workflows/new", data=form(csrf(client)))
    assert response.status_code == 422
    assert "The workflow needs at least one step" in response.get_data(as_text=True)
    assert count_workflows(app) == 0


def test_qstash_unreachable_stores_nothing_and_says_why(app, client, user, queue):
    queue.unreachable = True
    response = client.post("/workflows/new", data=form(csrf(client), schedule="0 9 * * 1", **compose_step()))
    assert response.status_code == 422
    assert "QStash is unreachable" in response.get_data(as_text=True)
    assert count_workflows(app) == 0


def test_posting_without_the_csrf_token_is_refused(app, client, user):
    response = client.post("/workflows/new", data=form("", **compose_step()))
    assert response.status_code == 400 and count_workflows(app) == 0


def test_step_list_edits_come_back_as_the_fragment_alone(client, user):
    token = csrf(client)
    response = client.post("/workflows/form/steps", data=form(token, edit="add", **compose_step(0, "First")), headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="steps"') and "<html" not in html
    assert 'id="step-1"' in html and "First" in html
    # Changing a step's tool draws that tool's fields, approval from its policy.
    html = client.post("/workflows/form/steps", data=form(token, edit="tool-0", **{
        "steps-0-toolName": "http_request"}), headers=HTMX).get_data(as_text=True)
    for name in ("url", "method", "json", "headers"):
        assert f'<label for="steps-0-input-{name}">{name}</label>' in html
    assert re.search(r'id="steps-0-needsApproval" name="steps-0-needsApproval"\s+checked', html)
    assert "Test step" not in html  # a webhook acts on the world: no trying it from the form


def test_step_list_edits_work_without_javascript(client, user):
    token = csrf(client)
    response = client.post("/workflows/form/steps", data=form(token, edit="remove-0", **compose_step(0, "Gone"),
                                                              **compose_step(1, "Stays")))
    html = response.get_data(as_text=True)
    assert "<html" in html and "New workflow" in html and "Stays" in html and "Gone" not in html


def test_plan_with_ai_without_a_model_says_what_to_set(client, user):
    response = client.post("/workflows/form/plan", data=form(csrf(client), **compose_step(0, "Kept")), headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and NO_LLM_MESSAGE in html and "Kept" in html


def test_test_step_runs_a_read_only_tool_and_stores_nothing(app, client, user):
    token = csrf(client)
    response = client.post("/workflows/form/steps/0/test", headers=HTMX, data=form(
        token, **compose_step(0, "Goal: {{ workflow.goal }}")))
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="steps-0-trial"')
    assert "Goal: Say hello every Monday" in html and "nothing was stored" in html
    assert count_workflows(app) == 0


def test_test_step_fetches_a_page_now(client, user, recorder):
    recorder.respond("/news", headers={"Content-Type": "text/html"},
                 body="<html><head><title>Daily news</title></head><body><article><p>"
                      + "Rain is expected all over the country tomorrow. " * 5 + "</p></article></body></html>")
    html = client.post("/workflows/form/steps/0/test", headers=HTMX, data=form(csrf(client), **{
        "steps-0-toolName": "fetch_page", "steps-0-input-url": recorder.url + "/news"})).get_data(as_text=True)
    assert len(recorder.requests) == 1
    assert "Daily news" in html and "Rain is expected" in html


def test_test_step_says_clearly_that_references_need_a_run(client, user):
    html = client.post("/workflows/form/steps/1/test", headers=HTMX, data=form(csrf(client), **compose_step(0),
        **compose_step(1, "{{ steps[0].output.text }}!"))).get_data(as_text=True)
    assert "exists only while a run executes" in html and "can't be tested on its own" in text_of(html).replace("&#39;", "'")


def test_test_step_shows_the_tools_error(client, user):
    html = client.post("/workflows/form/steps/0/test", headers=HTMX, data=form(csrf(client), **{
        "steps-0-toolName": "fetch_feed", "steps-0-input-url": "not a url"})).get_data(as_text=True)
    assert "toolInput.url must be an http or https URL" in html


def test_the_schedule_is_described_as_it_is_typed(client, user):
    response = client.get("/workflows/schedule?schedule=0+9+*+*+1&timezone=Europe/Berlin", headers=HTMX)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="schedule-preview"')
    assert "At 09:00 AM, only on Monday" in html and html.count("<li><time") == 5 and "CET" in html
    error = client.get("/workflows/schedule?schedule=0+9&timezone=UTC", headers=HTMX).get_data(as_text=True)
    assert "has 2 fields; expected 5" in error


def test_edit_shows_the_workflow_and_saves_changes(app, client, user, queue):
    with app.app_context():
        workflow_id = add_workflow(user, goal="Old goal")
    html = client.get(f"/workflows/{workflow_id}/edit").get_data(as_text=True)
    assert "Old goal" in html and "Save changes" in html and "Editing never touches a run in progress" in html
    response = client.post(f"/workflows/{workflow_id}/edit", data=form(csrf(client), workflow_id=workflow_id,
                                                                       goal="New goal", **compose_step(0, "New")))
    assert response.status_code == 302
    with app.app_context():
        workflow = db.session.get(Workflow, workflow_id)
        assert workflow.goal == "New goal" and workflow.steps[0].tool_input == {"template": "New"}


def test_another_users_workflow_cannot_be_edited(app, client, user, other_user):
    with app.app_context():
        theirs = add_workflow(other_user, goal="Bob's secret")
    assert client.get(f"/workflows/{theirs}/edit").status_code == 404
    response = client.post(f"/workflows/{theirs}/edit", data=form(csrf(client), **compose_step()))
    assert response.status_code == 404
    # Nor through a fragment that names it.
    steps = client.post("/workflows/form/steps", data=form(csrf(client), workflow_id=theirs, edit="add"))
    assert steps.status_code == 404
    with app.app_context():
        assert db.session.get(Workflow, theirs).goal == "Bob's secret"
