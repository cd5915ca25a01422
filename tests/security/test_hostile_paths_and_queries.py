"""Ids, cursors, limits and query strings a client made up: 400 or 404, never a 500."""
from __future__ import annotations

import base64
import json

import pytest

from models import MAX_ID
from tests.conftest import bearer
from tests.reliability.figures import record

BIG = "9" * 25
PATHS = [
    f"/api/runs/{BIG}", f"/api/runs/{2**63}", f"/api/runs/{2**31}", f"/api/runs/{BIG}/cancel",
    f"/api/approvals/{BIG}", f"/api/approvals/{2**31}",
    "/api/runs/" + "9" * 5000, "/api/workflows/a%00b", "/api/workflows/a%00b/runs",
]


@pytest.mark.parametrize("path", PATHS)
def test_ids_no_column_can_hold_are_404(client, api_user, path):
    _, token = api_user
    method = "POST" if path.endswith(("cancel",)) or path.startswith("/api/approvals/") else "GET"
    response = client.open(path, method=method, headers=bearer(token), json={} if method == "POST" else None)
    record("fuzz cases")
    assert response.status_code == 404, response.get_data(as_text=True)


def test_the_largest_id_a_column_holds_is_an_ordinary_404(client, api_user):
    _, token = api_user
    response = client.get(f"/api/runs/{MAX_ID}", headers=bearer(token))
    assert response.status_code == 404 and "run 2147483647 not found" in response.get_json()["error"]


def cursor(values) -> str:  # type: ignore[no-untyped-def]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


FORGED = {
    "number beyond 64 bits": cursor([10**30]),
    "number beyond the id column": cursor([2**31]),
    "object inside": cursor([{"a": 1}]),
    "object beside a time": cursor(["2026-01-01T00:00:00+00:00", {"x": 1}]),
    "list inside": cursor([[1, 2]]),
    "float id": cursor([1.5]),
    "bool id": cursor([True]),
    "not a time": cursor(["yesterday", "abc"]),
    "wrong arity": cursor([1, 2, 3]),
    "NaN": base64.urlsafe_b64encode(b"[NaN]").decode(),
    "NUL in a string": cursor(["2026-01-01T00:00:00", "a\u0000"]),
    "deep": base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(),
    "not base64": "%%%",
    "huge": "A" * 100_000,
}


@pytest.mark.parametrize("path", ["/api/workflows", "/api/approvals", "/api/workflows/{wid}/runs"])
@pytest.mark.parametrize("value", FORGED.values(), ids=FORGED.keys())
def test_forged_cursors_are_400(client, api_user, path, value):
    _, token = api_user
    wid = client.post("/api/workflows", headers=bearer(token),
                      json={"goal": "g", "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}]}
                      ).get_json()["id"]
    response = client.get(path.format(wid=wid), query_string={"cursor": value}, headers=bearer(token))
    record("fuzz cases")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["field"] == "cursor"


@pytest.mark.parametrize("limit", ["²", "٣", "0", "201", "-1", "1e2", " 5", "9" * 5000, "五"])
def test_limits_that_are_not_ascii_whole_numbers_in_range_are_400(client, api_user, limit):
    _, token = api_user
    response = client.get("/api/workflows", query_string={"limit": limit}, headers=bearer(token))
    record("fuzz cases")
    assert response.status_code == 400 and response.get_json()["field"] == "limit"


def test_nul_in_a_query_string_or_form_field_is_400(client, api_user, auth):
    _, token = api_user
    assert client.get("/api/approvals?status=a%00", headers=bearer(token)).status_code == 400
    login = client.post("/auth/login", data={"email": "a\x00@example.com", "password": "x" * 12})
    assert login.status_code == 400
    record("fuzz cases", 2)


@pytest.mark.parametrize("body, field", [
    ({"schedule": "0 0 30 2 *"}, "schedule"),  # February 30th never comes
    ({"schedule": "0 0 31 4,6,9,11 *"}, "schedule"),
    ({"timezone": "America"}, "timezone"),  # a folder of the zone database, not a zone
    ({"timezone": "Europe/" + "x" * 5000}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
], ids=["feb30", "31st-of-short-months", "zone-folder", "long-zone", "path-zone"])
def test_schedules_that_never_fire_and_zones_that_are_not_zones_are_422(client, api_user, unchanged, body, field):
    _, token = api_user
    response = client.post("/api/workflows", headers=bearer(token), json={
        "goal": "g", "schedule": "0 9 * * *", "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}],
        **body})
    record("fuzz cases")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["field"] == field
    unchanged()
