"""Who is asking is decided before anything else: 401 or 404, never "CSRF token missing"."""
from __future__ import annotations

import pytest

from tests.conftest import bearer


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/workflows"), ("PATCH", "/api/workflows/abc"), ("DELETE", "/api/workflows/abc"),
    ("POST", "/api/workflows/abc/runs"), ("POST", "/api/runs/1/cancel"), ("POST", "/api/approvals/1"),
    ("POST", "/api/workflows/plan"),
])
def test_an_unauthenticated_write_is_401(client, method, path):
    response = client.open(path, method=method, json={})
    assert response.status_code == 401
    assert "authentication required" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/nope", "/api/workflows/abc/nope", "/nope", "/api/runs/abc"])
def test_a_bearer_request_to_a_route_that_does_not_exist_is_404(client, api_user, path):
    _, token = api_user
    response = client.post(path, json={}, headers=bearer(token))
    assert response.status_code == 404


def test_a_method_a_route_does_not_have_is_405_not_400(client, api_user):
    _, token = api_user
    assert client.put("/api/workflows", json={}, headers=bearer(token)).status_code == 405


def test_an_anonymous_post_to_a_page_that_needs_a_login_goes_to_the_login(client):
    response = client.post("/settings/tokens", data={"name": "x"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_logged_in_session_still_needs_the_csrf_token(client, auth):
    auth.register()
    response = client.post("/api/workflows", json={"goal": "g"})
    assert response.status_code == 400 and "CSRF" in response.get_json()["error"]


def test_the_account_forms_still_need_the_csrf_token_when_anonymous(client):
    response = client.post("/auth/login", data={"email": "a@example.com", "password": "x" * 12})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)


def test_an_anonymous_logout_goes_to_the_login_not_a_csrf_error(client):
    response = client.post("/auth/logout")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
