"""Fixtures shared by the app's tests: the app on a migrated database, clients, users.

The schema is created once per session by the real Alembic migrations (the same ones
production runs), on SQLite by default or on PostgreSQL when `DATABASE_URL` points at one;
each test then starts from empty tables.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import flask_migrate
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from app import create_app
from extensions import db
from workflows.integrations import accounts

TEST_SECRET = "test-secret-key-not-for-production"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when DATABASE_URL names one (CI's second leg), else a fresh SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'stepwise-test.db'}"


def make_app(database_url: str, **overrides: Any):
    """An app for tests: real configuration path, test database, fixed secret."""
    config = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "STEPWISE_ENV": "development",
        "TESTING": True,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    """Bring the test database to the head migration once, from nothing."""
    app = make_app(database_url)
    with app.app_context():
        db.drop_all()
        db.session.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        flask_migrate.upgrade()
        db.engine.dispose()
    return database_url


def clean_tables() -> None:
    """Empty every table, children first (foreign keys stay on)."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app(migrated: str):
    """The app on empty tables."""
    app = make_app(migrated)
    with app.app_context():
        clean_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


@dataclass
class AuthActions:
    """Register and log in through the real forms, CSRF token included."""

    client: Any

    def register(self, email: str = "ada@example.com", password: str = "correct-horse-1"):
        token = csrf_from(self.client.get("/auth/register").get_data(as_text=True))
        return self.client.post(
            "/auth/register", data={"email": email, "password": password, "csrf_token": token}
        )

    def login(self, email: str = "ada@example.com", password: str = "correct-horse-1", remember: bool = False):
        token = csrf_from(self.client.get("/auth/login").get_data(as_text=True))
        data = {"email": email, "password": password, "csrf_token": token}
        if remember:
            data["remember"] = "y"
        return self.client.post("/auth/login", data=data)

    def logout(self):
        token = csrf_from(self.client.get("/settings").get_data(as_text=True))
        return self.client.post("/auth/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


def create_user_with_token(app, email: str) -> tuple[int, str]:
    """A user and a live API token for them: (user id, token)."""
    with app.app_context():
        user = accounts.create_user(email, "correct-horse-1")
        _, token = accounts.create_token(user, "test")
        return user.id, token


@pytest.fixture
def api_user(app) -> tuple[int, str]:
    """User A with a Bearer token."""
    return create_user_with_token(app, "alice@example.com")


@pytest.fixture
def other_api_user(app) -> tuple[int, str]:
    """User B with a Bearer token."""
    return create_user_with_token(app, "bob@example.com")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LiveServer:
    """The app served over a real socket on loopback, in a thread of the test process."""

    def __init__(self, app) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "LiveServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()
