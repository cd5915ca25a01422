"""Accounts: registration, login, logout, remember me, throttling."""
import pytest
import sqlalchemy as sa

from extensions import db
from models import User


def test_register_creates_account_and_logs_in(client, auth, app):
    response = auth.register("New.User@Example.com", "correct-horse-1")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Workflows" in client.get("/").get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.email == "new.user@example.com"
        assert user.password_hash != "correct-horse-1" and user.check_password("correct-horse-1")


@pytest.mark.parametrize(
    "email, password, message",
    [
        ("not-an-email", "correct-horse-1", "Enter a valid email address"),
        ("", "correct-horse-1", "Enter your email address."),
        ("ada@example.com", "short", "Password must be at least 10 characters."),
        ("ada@example.com", "", "Choose a password."),
    ],
)
def test_register_validation_messages(auth, app, email, password, message):
    response = auth.register(email, password)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_register_email_taken(auth, client):
    auth.register()
    auth.logout()
    response = auth.register("ADA@example.com", "another-password")
    assert response.status_code == 422
    assert "An account with this email already exists." in response.get_data(as_text=True)


def test_login_wrong_password_and_unknown_email(auth):
    auth.register()
    auth.logout()
    for email, password in [("ada@example.com", "wrong-password"), ("nobody@example.com", "correct-horse-1")]:
        response = auth.login(email, password)
        assert response.status_code == 422
        assert "Wrong email or password." in response.get_data(as_text=True)


def test_login_logout_roundtrip(auth, client):
    auth.register()
    auth.logout()
    assert client.get("/").status_code == 302
    response = auth.login()
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    response = auth.logout()
    assert response.headers["Location"] == "/auth/login"
    assert client.get("/settings").headers["Location"].startswith("/auth/login")


def test_remember_me_sets_a_lasting_cookie(auth, client):
    auth.register()
    auth.logout()
    response = auth.login(remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=") and "Expires=" in c for c in cookies)


def test_login_without_remember_sets_no_remember_cookie(auth):
    auth.register()
    auth.logout()
    cookies = auth.login().headers.getlist("Set-Cookie")
    assert not any(c.startswith("remember_token=") for c in cookies)


def test_login_next_only_follows_local_paths(auth, client):
    auth.register()
    auth.logout()
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    data = {"email": "ada@example.com", "password": "correct-horse-1", "csrf_token": token}
    response = client.post("/auth/login?next=https://evil.example/", data=data)
    assert response.headers["Location"] == "/"


def test_failed_logins_are_throttled(auth):
    auth.register()
    auth.logout()
    for _ in range(5):
        assert "Wrong email or password." in auth.login(password="wrong-password-x").get_data(as_text=True)
    response = auth.login()  # even the right password waits now
    assert response.status_code == 422
    assert "Too many failed attempts" in response.get_data(as_text=True)


def test_pages_require_login(client):
    for path in ("/", "/approvals", "/settings"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
