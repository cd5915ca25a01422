"""A 4xx from QStash is our bug or the user's input, said as such; only no answer (or a 5xx) is 503."""
from __future__ import annotations

import pytest

from tests.conftest import bearer, create_user_with_token, make_app
from tests.reliability.figures import record
from tests.security.conftest import row_counts
from tests.support.qstash_server import free_port
from tests.support.recorder import Recorder
from tests.engine.conftest import qstash  # noqa: F401 (fixture)

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

BASE = "http://127.0.0.1:5000"
SCHEDULE_PATH = f"/v2/schedules/{BASE}/api/workflows/trigger"
BODY = {"goal": "g", "schedule": "0 9 * * *", "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}]}


@pytest.fixture
def fake_qstash():
    with Recorder() as recorder:
        yield recorder


@pytest.fixture
def app_on(migrated):  # type: ignore[no-untyped-def]
    """An app whose QSTASH_URL is the given base."""
    apps = []

    def build(qstash_url: str):  # type: ignore[no-untyped-def]
        app = make_app(migrated, QSTASH_URL=qstash_url, APP_BASE_URL=BASE)
        with app.app_context():
            from tests.conftest import clean_tables
            clean_tables()
        apps.append(app)
        return app, create_user_with_token(app, "q@example.com")[1]

    yield build


def test_a_schedule_qstash_refuses_is_a_422_naming_schedule(app_on, fake_qstash):
    fake_qstash.respond(SCHEDULE_PATH, status=400, body='{"error":"invalid cron expression"}')
    app, token = app_on(fake_qstash.url)
    before = row_counts(app)
    response = app.test_client().post("/api/workflows", json=BODY, headers=bearer(token))
    record("faults injected")
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["field"] == "schedule" and "invalid cron expression" in body["error"]
    assert row_counts(app) == before
    record("faults survived")


@pytest.mark.parametrize("status", [401, 403, 404, 413])
def test_any_other_refusal_is_our_fault_and_never_unreachable(app_on, fake_qstash, status):
    fake_qstash.respond(SCHEDULE_PATH, status=status, body='{"error":"nope"}')
    app, token = app_on(fake_qstash.url)
    before = row_counts(app)
    response = app.test_client().post("/api/workflows", json=BODY, headers=bearer(token))
    record("faults injected")
    assert response.status_code == 500, response.get_data(as_text=True)
    message = response.get_json()["error"]
    assert f"HTTP {status}" in message and "our side" in message and "unreachable" not in message
    assert row_counts(app) == before
    record("faults survived")


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_5xx_or_a_rate_limit_is_a_503(app_on, fake_qstash, status):
    fake_qstash.respond(SCHEDULE_PATH, status=status)
    app, token = app_on(fake_qstash.url)
    response = app.test_client().post("/api/workflows", json=BODY, headers=bearer(token))
    record("faults injected")
    assert response.status_code == 503 and "unavailable" in response.get_json()["error"]
    record("faults survived")


def test_no_answer_at_all_is_a_503_unreachable(app_on):
    app, token = app_on(f"http://127.0.0.1:{free_port()}")
    response = app.test_client().post("/api/workflows", json=BODY, headers=bearer(token))
    record("faults injected")
    assert response.status_code == 503 and "unreachable" in response.get_json()["error"]
    record("faults survived")


def test_a_wrong_token_at_the_real_qstash_dev_is_our_fault(migrated, qstash):
    app = make_app(migrated, QSTASH_URL=qstash.url, QSTASH_TOKEN="not-the-token", APP_BASE_URL=BASE)
    with app.app_context():
        from tests.conftest import clean_tables
        clean_tables()
    _, token = create_user_with_token(app, "t@example.com")
    response = app.test_client().post("/api/workflows", json=BODY, headers=bearer(token))
    record("faults injected")
    assert response.status_code == 500
    assert "HTTP 401" in response.get_json()["error"]
    record("faults survived")


PUBLISH_STEP = f"/v2/publish/{BASE}/api/workflows/step"


def _deliver_step(app, body: dict):  # type: ignore[no-untyped-def]
    """Step 0's message, delivered as QStash would (signed for BASE)."""
    import json

    from tests.support.signing import sign

    raw = json.dumps(body)
    return app.test_client().post("/api/workflows/step", data=raw, headers={
        "Upstash-Signature": sign(raw, BASE + "/api/workflows/step"), "Content-Type": "application/json"})


@pytest.mark.parametrize("fault", ["refused", "unreachable"])
def test_a_step_whose_next_publish_fails_says_what_happened(app_on, fake_qstash, fault):
    """The step completed; its next message did not reach QStash. The 503 that asks for a
    redelivery says why: refused (HTTP 400, in QStash's words) is never called unreachable."""
    fake_qstash.respond(PUBLISH_STEP, status=400, body='{"error":"destination not allowed"}')
    app, token = app_on(fake_qstash.url if fault == "refused" else f"http://127.0.0.1:{free_port()}")
    client = app.test_client()
    workflow = client.post("/api/workflows", headers=bearer(token), json={
        "goal": "g", "steps": [{"toolName": "compose", "toolInput": {"template": "one"}},
                               {"toolName": "compose", "toolInput": {"template": "two"}}]}).get_json()
    run_id = client.post(f"/api/workflows/{workflow['id']}/runs", headers=bearer(token)).get_json()["runId"]
    run = client.get(f"/api/runs/{run_id}", headers=bearer(token)).get_json()
    message = {"workflowId": workflow["id"], "runId": run_id, "conversationId": run["conversationId"], "stepIndex": 0}
    record("faults injected")
    for delivery in ("first", "redelivery"):  # the redelivery publishes again, and says so again
        answer = _deliver_step(app, message)
        error = answer.get_json()["error"]
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", (delivery, error)
        assert error.startswith("step completed, but the message after it was not published: "), error
        if fault == "refused":
            assert "refused to publish (HTTP 400: " in error and "destination not allowed" in error, error
            assert "unreachable" not in error, error
        else:
            assert "is unreachable (publish)" in error and "refused to publish" not in error, error
    steps = client.get(f"/api/runs/{run_id}", headers=bearer(token)).get_json()["steps"]
    assert [s["status"] for s in steps] == ["completed", "pending"]  # nothing lost, nothing run twice
    record("faults survived")
