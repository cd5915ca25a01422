"""Property-based fuzzing (hypothesis) of every JSON endpoint, the QStash consumers' payloads and the
list query strings: never a 500, never a row written by a rejected request, the slowest answer reported."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import TEST_SECRET, bearer
from tests.engine.conftest import sign
from tests.engine.test_engine_claims import FakeQueue
from tests.reliability.figures import record, slowest
from tests.security.conftest import row_counts
from tests.security.strategies import FUZZ, cron, json_values, strings, timezones
from workflows.tools import REGISTRY

tool_input = st.dictionaries(st.sampled_from(["url", "template", "to", "subject", "body", "json", "text",
                                              "limit", "method", "instructions", "x"]),
                             strings | json_values, max_size=4)
step = st.fixed_dictionaries(
    {"toolName": st.sampled_from(sorted(REGISTRY) + ["nope", ""]) | json_values},
    optional={"toolInput": tool_input | json_values, "needsApproval": st.booleans() | json_values,
              "instruction": strings | json_values})
workflow = st.fixed_dictionaries(
    {"goal": strings | json_values},
    optional={"schedule": st.none() | cron | st.text(max_size=20), "overlap": st.sampled_from(["skip", "queue", "allow", "x"]),
              "timezone": timezones,
              "steps": st.lists(step, max_size=4) | json_values, "paused": st.booleans() | json_values,
              "budgetUsd": json_values, "zz": json_values})
decision = st.fixed_dictionaries(
    {"decision": st.sampled_from(["approve", "reject", "revise", "maybe"]) | json_values},
    optional={"feedback": strings | json_values, "toolInput": tool_input | json_values})
bodies = (st.builds(lambda v: json.dumps(v, allow_nan=True), json_values)
          | st.builds(lambda v: json.dumps(v, allow_nan=True), workflow) | st.text(max_size=60))


CANARY = "canary-goal-of-another-user-7f3a9c"
NEVER_SHOWN = (CANARY, TEST_SECRET, "Traceback (most recent call last)")


@pytest.fixture
def fuzz_app(app, api_user, other_api_user):  # type: ignore[no-untyped-def]
    """The app with an in-memory queue, a user, one workflow and one pending approval to aim at,
    and another user's workflow whose goal must never appear in any answer."""
    app.extensions["stepwise"].queue = FakeQueue()
    client, token = app.test_client(), api_user[1]
    assert client.post("/api/workflows", headers=bearer(other_api_user[1]), json={
        "goal": CANARY, "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}]}).status_code == 201
    created = client.post("/api/workflows", headers=bearer(token), json={
        "goal": "g", "steps": [{"toolName": "send_email", "toolInput": {"to": "a@example.com", "subject": "s",
                                                                         "body": "b"}}]}).get_json()
    from tests.security.fixtures import pending_approval

    approval_id = pending_approval(app, created["id"])
    return app, client, token, created["id"], approval_id


def check_no_leak(text: str) -> None:
    """No answer shows another user's data, the secret key or a stack trace."""
    leaked = [item for item in NEVER_SHOWN if item in text]
    record("leaks", len(leaked))
    assert not leaked, leaked


def call(app, client, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    """One request, checked: no 500, and a rejected request left every table as it was."""
    before = row_counts(app)
    started = time.perf_counter()
    response = client.open(path, method=method, **kwargs)
    slowest("slowest fuzzed response", time.perf_counter() - started)
    record("fuzz cases")
    record("500s seen", int(response.status_code >= 500))
    assert response.status_code < 500, (method, path, kwargs, response.get_data(as_text=True)[:500])
    check_no_leak(response.get_data(as_text=True))
    if response.status_code >= 400:
        after = row_counts(app)
        record("rows written by rejected requests", int(after != before))
        assert after == before, (method, path, kwargs)
    return response


def fuzz_json(fuzz_app, method: str, paths: list[str], body) -> None:  # type: ignore[no-untyped-def]
    """Send generated JSON text to each of `paths`, checked by `call`."""
    app, client, token = fuzz_app[:3]

    @FUZZ
    @given(text=body, path=st.sampled_from(paths))
    def run(text: str, path: str) -> None:
        call(app, client, method, path, data=text, headers={**bearer(token), "Content-Type": "application/json"})

    run()


def as_text(strategy):  # type: ignore[no-untyped-def]
    return st.builds(lambda v: json.dumps(v, allow_nan=True), strategy) | bodies


@pytest.mark.timeout(600)
def test_fuzz_create_and_plan(fuzz_app):
    fuzz_json(fuzz_app, "POST", ["/api/workflows", "/api/workflows/plan"], bodies)


@pytest.mark.timeout(600)
def test_fuzz_change_workflow(fuzz_app):
    fuzz_json(fuzz_app, "PATCH", [f"/api/workflows/{fuzz_app[3]}"], as_text(workflow))


@pytest.mark.timeout(600)
def test_fuzz_decisions(fuzz_app):
    fuzz_json(fuzz_app, "POST", [f"/api/approvals/{fuzz_app[4]}"], as_text(decision))


@pytest.mark.timeout(600)
def test_fuzz_list_query_strings(fuzz_app):
    app, client, token, workflow_id, _ = fuzz_app
    params = st.dictionaries(st.sampled_from(["limit", "cursor", "status", "x"]),
                             st.text(max_size=30) | st.sampled_from(["0", "1", "200", "201", "²", "pending",
                                                                     "completed", "W1siYSJdXQ", "eyJhIjoxfQ"]),
                             max_size=3)

    @FUZZ
    @given(query=params, path=st.sampled_from(["/api/workflows", "/api/approvals", f"/api/workflows/{workflow_id}/runs"]))
    def run(query: dict[str, str], path: str) -> None:
        call(app, client, "GET", path, query_string=query, headers=bearer(token))

    run()


CONSUMERS = ["/api/workflows/step", "/api/workflows/trigger", "/api/workflows/failed",
             "/api/approvals/expire", "/api/maintenance/sweep"]
step_message = st.fixed_dictionaries(
    {}, optional={"workflowId": strings | json_values, "runId": st.integers(-5, 2**64) | json_values,
                  "conversationId": strings | json_values, "stepIndex": st.integers(-5, 2**64) | json_values,
                  "approvalId": json_values, "userResponse": json_values, "approvalIdx": json_values})
failure = st.fixed_dictionaries({}, optional={"sourceBody": st.text(max_size=40) | json_values,
                                              "body": st.text(max_size=40) | json_values,
                                              "status": json_values, "retried": json_values})


@pytest.mark.timeout(600)
def test_fuzz_signed_consumer_payloads(fuzz_app):
    """Correctly signed (so the payload itself is what is tested) and still hostile."""
    app, client, _, _, _ = fuzz_app
    payload = (st.builds(lambda v: json.dumps(v, allow_nan=True), step_message | failure | json_values)
               | st.text(max_size=60))

    @FUZZ
    @given(body=payload, path=st.sampled_from(CONSUMERS))
    def run(body: str, path: str) -> None:
        url = "http://127.0.0.1:5000" + path
        response = call(app, client, "POST", path, data=body.encode("utf-8", "surrogatepass"),
                        headers={"Upstash-Signature": sign(body, url), "Content-Type": "application/json"})
        assert response.status_code in (200, 401, 409, 489), response.get_data(as_text=True)

    run()
