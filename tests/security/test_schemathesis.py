"""schemathesis against GET /api/openapi.json: cases generated from the document the API serves,
sent to the app in-process; none may get a 500 (10,000+ cases in CI, a few hundred locally)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from blueprints.openapi import PATHS
from tests.conftest import bearer
from tests.engine.test_engine_claims import FakeQueue
from tests.reliability.figures import record
from tests.reliability.scale import scaled
from tests.security.test_fuzz import CANARY, check_no_leak

PER_OPERATION = scaled(15, 1000)  # 17 operations; the ones with few inputs run out sooner: 10,000+ in CI
# schemathesis leaves out the operation that serves the schema itself (it takes no input).
OPERATIONS = [f"{method.upper()} {path}" for path, methods in PATHS.items() for method in methods
              if path != "/api/openapi.json"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_generated_case_gets_a_500(app, api_user, other_api_user, label):
    app.extensions["stepwise"].queue = FakeQueue()
    assert app.test_client().post("/api/workflows", headers=bearer(other_api_user[1]), json={
        "goal": CANARY, "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}]}).status_code == 201
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    headers = bearer(api_user[1])
    sent = []

    @settings(max_examples=PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(headers=headers)
        sent.append(response.status_code)
        record("fuzz cases")
        record("schemathesis cases")
        record("500s seen", int(response.status_code >= 500))
        case.validate_response(response, checks=[not_a_server_error])
        check_no_leak(response.text)

    check()
    assert sent  # operations without inputs (the signed consumers: no body schema) yield one case
