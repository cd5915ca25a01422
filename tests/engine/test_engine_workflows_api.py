"""The workflows JSON API: shapes, validation (400/422 naming the field), nothing stored on error."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from extensions import db
from models import RunStep, Workflow
from tests.conftest import bearer

GOOD_STEP = {"toolName": "compose", "toolInput": {"template": "hi"}}


@pytest.fixture
def token(api_user):
    return api_user[1]


def post(client, token, body, **kwargs):
    return client.post("/api/workflows", json=body, headers=bearer(token), **kwargs)


def test_create_returns_the_workflow_shape(client, token):
    response = client.post("/api/workflows", json={"goal": "  Weekly digest  ", "steps": [
        GOOD_STEP, {"toolName": "send_email", "toolInput": {
            "to": "me@example.com", "subject": "Digest", "body": "{{ steps[0].output.text }}"}}]},
        headers=bearer(token))
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) >= {"id", "goal", "schedule", "timezone", "qstashScheduleId", "paused", "overlap",
                         "steps", "createdAt", "nextRuns"}
    assert body["goal"] == "Weekly digest" and body["timezone"] == "UTC" and body["overlap"] == "skip"
    assert body["schedule"] is None and body["nextRuns"] == [] and body["paused"] is False
    assert body["createdAt"].endswith("Z")
    assert body["steps"][0] == {"index": 0, "toolName": "compose", "toolInput": {"template": "hi"},
                                "instruction": None, "needsApproval": False}
    assert body["steps"][1]["needsApproval"] is True  # send_email's policy
    assert client.get(f"/api/workflows/{body['id']}", headers=bearer(token)).json == body


def test_owner_may_turn_approval_off_explicitly(client, token):
    step = {"toolName": "http_request", "toolInput": {"url": "https://hooks.example/x"}, "needsApproval": False}
    response = post(client, token, {"goal": "g", "steps": [step]})
    assert response.status_code == 201 and response.json["steps"][0]["needsApproval"] is False


LONG = "x" * 2001
CASES = [
    ("not json", 400, None),
    ([1, 2], 400, None),
    ({"goal": 5, "steps": [GOOD_STEP]}, 400, "goal"),
    ({"goal": "", "steps": [GOOD_STEP]}, 422, "goal"),
    ({"goal": "   ", "steps": [GOOD_STEP]}, 422, "goal"),
    ({"goal": LONG, "steps": [GOOD_STEP]}, 422, "goal"),
    ({"goal": "g", "steps": "compose"}, 400, "steps"),
    ({"goal": "g", "steps": []}, 422, "steps"),
    ({"goal": "g", "steps": [GOOD_STEP] * 21}, 422, "steps"),
    ({"goal": "g", "steps": [5]}, 400, "steps[0]"),
    ({"goal": "g", "steps": [{"toolName": "teleport", "toolInput": {}}]}, 422, "steps[0].toolName"),
    ({"goal": "g", "steps": [{"toolName": "compose", "toolInput": "hi"}]}, 400, "steps[0].toolInput"),
    ({"goal": "g", "steps": [{"toolName": "compose", "toolInput": {}}]}, 422, "steps[0].toolInput.template"),
    ({"goal": "g", "steps": [{"toolName": "fetch_page", "toolInput": {"url": "not a url"}}]}, 422, "steps[0].toolInput.url"),
    ({"goal": "g", "steps": [{"toolName": "compose", "toolInput": {"template": "x", "extra": 1}}]}, 422, "steps[0].toolInput.extra"),
    ({"goal": "g", "steps": [{"toolName": "compose", "toolInput": {"template": "x"}, "needsApproval": "no"}]}, 400, "steps[0].needsApproval"),
    ({"goal": "g", "steps": [GOOD_STEP], "schedule": "every monday"}, 422, "schedule"),
    ({"goal": "g", "steps": [GOOD_STEP], "schedule": "0 9 * * * *"}, 422, "schedule"),
    ({"goal": "g", "steps": [GOOD_STEP], "schedule": "61 9 * * *"}, 422, "schedule"),
    ({"goal": "g", "steps": [GOOD_STEP], "schedule": 9}, 400, "schedule"),
    ({"goal": "g", "steps": [GOOD_STEP], "schedule": "0 9 * * *", "timezone": "Mars/Olympus"}, 422, "timezone"),
    ({"goal": "g", "steps": [GOOD_STEP], "overlap": "sometimes"}, 422, "overlap"),
    ({"goal": "g", "steps": [GOOD_STEP], "shedule": "0 9 * * *"}, 422, "shedule"),
    ({"goal": "g", "steps": [{"toolName": "compose", "toolInput": {"template": "{{ steps[0].output.text }}"}}]}, 422, "steps[0].toolInput.template"),
    ({"goal": "g", "steps": [GOOD_STEP, {"toolName": "compose", "toolInput": {"template": "{{ steps[2].output }}"}}]}, 422, "steps[1].toolInput.template"),
    ({"goal": "g", "steps": [{"toolName": "compose", "toolInput": {"template": "{{ steps[0].output.text "}}]}, 422, "steps[0].toolInput.template"),
    ({"goal": "g"}, 422, "steps"),
]


@pytest.mark.parametrize("body, status, field", CASES)
def test_validation_names_the_field_and_stores_nothing(client, token, app, body, status, field):
    if body == "not json":
        response = client.post("/api/workflows", data="{nope", headers={**bearer(token), "Content-Type": "application/json"})
    else:
        response = post(client, token, body)
    assert response.status_code == status, response.json
    assert response.json["error"]
    if field:
        assert response.json.get("field") == field, response.json
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Workflow.id))) == 0


def test_no_steps_without_a_model_names_the_settings(client, token):
    response = post(client, token, {"goal": "Publish a weekly LinkedIn post about AI trends"})
    assert response.status_code == 422
    assert "OPENAI_API_KEY" in response.json["error"] and "OPENAI_BASE_URL" in response.json["error"]
    plan = client.post("/api/workflows/plan", json={"goal": "x"}, headers=bearer(token))
    assert plan.status_code == 422 and "OPENAI_API_KEY" in plan.json["error"]


def test_patch_replaces_steps_without_touching_runs_in_flight(client, token, app, services):
    created = post(client, token, {"goal": "g", "steps": [GOOD_STEP]}).json
    started = client.post(f"/api/workflows/{created['id']}/runs", headers=bearer(token))
    assert started.status_code == 202, started.json
    response = client.patch(f"/api/workflows/{created['id']}", headers=bearer(token), json={
        "goal": "new goal", "overlap": "queue",
        "steps": [{"toolName": "compose", "toolInput": {"template": "one"}},
                  {"toolName": "compose", "toolInput": {"template": "{{ steps[0].output.text }} two"}}]})
    assert response.status_code == 200, response.json
    assert response.json["goal"] == "new goal" and response.json["overlap"] == "queue"
    assert [s["toolInput"]["template"] for s in response.json["steps"]] == ["one", "{{ steps[0].output.text }} two"]
    run = client.get(f"/api/runs/{started.json['runId']}", headers=bearer(token)).json
    assert [s["toolName"] for s in run["steps"]] == ["compose"]  # the run keeps its own copy
    with app.app_context():
        assert db.session.scalars(sa.select(RunStep.tool_input)).all() == [{"template": "hi"}]
    bad = client.patch(f"/api/workflows/{created['id']}", headers=bearer(token), json={"paused": "yes"})
    assert bad.status_code == 400 and bad.json["field"] == "paused"


def test_list_workflows_paginates(client, token):
    ids = [post(client, token, {"goal": f"g{i}", "steps": [GOOD_STEP]}).json["id"] for i in range(3)]
    page = client.get("/api/workflows?limit=2", headers=bearer(token)).json
    assert len(page["items"]) == 2 and page["nextCursor"]
    rest = client.get(f"/api/workflows?limit=2&cursor={page['nextCursor']}", headers=bearer(token)).json
    seen = [w["id"] for w in page["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids) and rest["nextCursor"] is None
    assert client.get("/api/workflows?limit=201", headers=bearer(token)).status_code == 400


def test_openapi_documents_every_json_route_and_nothing_else(app, client):
    document = client.get("/api/openapi.json").json
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule
        for name, alias in (("workflow_id", "workflowId"), ("run_id", "runId"), ("approval_id", "approvalId")):
            path = path.replace(f"<{name}>", "{%s}" % alias).replace(f"<int:{name}>", "{%s}" % alias)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method))
    assert documented == routes
