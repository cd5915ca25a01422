"""Password reset: "Forgot password?" on the login page, the same answer whether or not the
address exists, throttled like logins, a signed link that expires and works once."""
from __future__ import annotations

import re
import time

import sqlalchemy as sa

from extensions import db
from models import Outbox
from tests.conftest import csrf_from


def _ask(client, email: str):
    token = csrf_from(client.get("/auth/reset").get_data(as_text=True))
    return client.post("/auth/reset", data={"email": email, "csrf_token": token})


def _reset_path(app) -> str:
    with app.app_context():
        row = db.session.scalars(sa.select(Outbox).order_by(Outbox.id.desc())).first()
    return re.search(r"http://[^/]+(/auth/reset/\S+)", row.text).group(1)


def test_login_page_offers_forgot_password(client):
    html = client.get("/auth/login").get_data(as_text=True)
    assert '<a href="/auth/reset">Forgot password?</a>' in html


def test_the_answer_is_the_same_whether_or_not_the_account_exists(app, auth, client, mailer):
    # With a mail server configured (as in production): nothing on the page tells the two apart.
    auth.register()
    auth.logout()
    known, unknown = _ask(client, "ada@example.com"), _ask(client, "nobody@example.com")
    strip = lambda r: r.get_data(as_text=True).replace("ada@example.com", "X").replace("nobody@example.com", "X")  # noqa: E731
    assert known.status_code == unknown.status_code == 200
    # CSRF tokens carry the second they were signed in: leave them out of the comparison.
    tokens = re.compile(r'value="[^"]+"|"X-CSRFToken": "[^"]+"')
    assert tokens.sub("", strip(known)) == tokens.sub("", strip(unknown))
    with app.app_context():
        assert [row.to for row in db.session.scalars(sa.select(Outbox))] == ["ada@example.com"]


def test_reset_link_sets_a_new_password_once_and_ends_every_session(app, auth, client):
    auth.register()
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    auth.logout()
    auth.login()
    assert other.get("/settings").status_code == 302  # logged out copy (session ended)
    laptop_session = client.get_cookie("session").value
    anonymous = app.test_client()
    _ask(anonymous, "ada@example.com")
    path = _reset_path(app)
    page = anonymous.get(path).get_data(as_text=True)
    assert "Choose a new password" in page and "For ada@example.com" in page
    short = anonymous.post(path, data={"password": "short", "csrf_token": csrf_from(page)})
    assert short.status_code == 422 and "Password must be at least 10 characters." in short.get_data(as_text=True)
    done = anonymous.post(path, data={"password": "brand-new-password", "csrf_token": csrf_from(page)})
    assert done.status_code == 302 and done.headers["Location"] == "/auth/login"
    assert auth.login("ada@example.com", "brand-new-password").status_code == 302
    stale = app.test_client()
    stale.set_cookie("session", laptop_session)
    assert stale.get("/settings").status_code == 302  # the session before the reset ended
    used = anonymous.get(path)
    assert used.status_code == 410 and "already used" in used.get_data(as_text=True)


def test_a_tampered_reset_link_is_a_404(app, auth, client):
    auth.register()
    auth.logout()
    _ask(client, "ada@example.com")
    path = _reset_path(app)
    assert client.get(path[:-4] + ("abcd" if not path.endswith("abcd") else "wxyz")).status_code == 404


def test_an_expired_reset_link_says_so(app, auth, client, monkeypatch):
    auth.register()
    auth.logout()
    _ask(client, "ada@example.com")
    path = _reset_path(app)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3601)  # an hour and a second later
    response = client.get(path)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)


def test_reset_requests_are_throttled_like_logins(app, client):
    for _ in range(5):
        assert _ask(client, "someone@example.com").status_code == 200
    response = _ask(client, "someone@example.com")
    assert response.status_code == 422 and "Too many reset requests" in response.get_data(as_text=True)


def test_in_development_without_a_mail_server_the_page_shows_the_link_the_email_carries(app, auth, client):
    """Nobody could read the email (the dev mailbox needs the forgotten login), so the page shows it."""
    auth.register()
    auth.logout()
    html = _ask(client, "ada@example.com").get_data(as_text=True)
    link = re.search(r'href="http://[^"]+(/auth/reset/[^"]+)" id="dev-reset-link"', html)
    assert link and link.group(1) == _reset_path(app)
    assert 'id="dev-reset-link"' not in _ask(client, "nobody@example.com").get_data(as_text=True)
    assert client.get(link.group(1)).status_code == 200  # the link works


def test_with_a_mail_server_the_link_is_never_on_the_page(app, auth, client, mailer):
    auth.register()
    auth.logout()
    html = _ask(client, "ada@example.com").get_data(as_text=True)
    assert 'id="dev-reset-link"' not in html and "/auth/reset/" not in html
