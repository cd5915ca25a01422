"""API tokens: settings page, Bearer authentication, revocation, isolation between users."""
import re

import sqlalchemy as sa

from extensions import db
from models import ApiToken, Workflow
from tests.conftest import bearer, csrf_from


def test_api_requires_authentication(client, app):
    response = client.get("/api/workflows")
    assert response.status_code == 401
    assert response.json == {"error": "authentication required: send 'Authorization: Bearer <token>' or log in"}


def test_valid_token_lists_workflows(client, api_user):
    response = client.get("/api/workflows", headers=bearer(api_user[1]))
    assert response.status_code == 200
    assert response.json == {"items": [], "nextCursor": None}


def test_wrong_and_malformed_tokens_are_401(client, api_user):
    for header in ("Bearer sw_not-a-real-token", "Bearer " + api_user[1] + "x", "Bearer ", "Basic abc"):
        response = client.get("/api/workflows", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert "error" in response.json


def test_tokens_are_stored_hashed(app, api_user):
    with app.app_context():
        stored = db.session.scalar(sa.select(ApiToken))
        assert api_user[1] not in (stored.token_hash, stored.prefix)
        assert len(stored.token_hash) == 64


def test_settings_page_creates_shows_once_and_revokes(auth, client, app):
    auth.register()
    page = client.get("/settings").get_data(as_text=True)
    response = client.post(
        "/settings/tokens", data={"name": "Zapier", "csrf_token": csrf_from(page)}, headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<section id="tokens">')
    token = re.search(r"sw_[A-Za-z0-9_\-]+", html).group()
    assert client.get("/api/workflows", headers=bearer(token)).status_code == 200

    page = client.get("/settings").get_data(as_text=True)
    assert "Zapier" in page and token not in page  # shown once, never again

    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id))
    response = client.post(
        f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf_from(page)}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "revoked" in response.get_data(as_text=True)
    assert client.get("/api/workflows", headers=bearer(token)).status_code == 401


def test_cannot_revoke_someone_elses_token(auth, client, app, other_api_user):
    auth.register()
    with app.app_context():
        bobs = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.user_id == other_api_user[0]))
    page = client.get("/settings").get_data(as_text=True)
    response = client.post(f"/settings/tokens/{bobs}/revoke", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 404
    assert client.get("/api/workflows", headers=bearer(other_api_user[1])).status_code == 200


def test_a_token_never_sees_another_users_data(client, app, api_user, other_api_user):
    with app.app_context():
        db.session.add(Workflow(owner_id=other_api_user[0], goal="Bob's secret plan"))
        db.session.commit()
    assert client.get("/api/workflows", headers=bearer(api_user[1])).json["items"] == []
    items = client.get("/api/workflows", headers=bearer(other_api_user[1])).json["items"]
    assert [w["goal"] for w in items] == ["Bob's secret plan"]
