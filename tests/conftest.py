"""Fixtures shared by the app's tests: the app on a migrated database, clients, users.

The schema is created once per session by the real Alembic migrations (the same ones
production runs), on SQLite by default or on PostgreSQL when `DATABASE_URL` points at one;
each test then starts from empty tables.

Tests that start servers, browsers or processes form the `stack` tier (tests/support/stack_tier.py):
`-m "not stack"` runs the rest, which the stack guard keeps free of them.
"""
from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from typing import Any, Iterator

import flask_migrate
import jinja2
import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from app import create_app
from extensions import db
from models import User
from tests.support.fake_openai import FakeOpenAI
from tests.support.linkedin_standin import LinkedInStandIn
from tests.support.live_server import LiveServer
from tests.support.recorder import Recorder
from tests.support.stack_tier import StackTier, stack_fixture
from workflows.integrations import accounts

TEST_SECRET = "test-secret-key-not-for-production"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def pytest_configure(config: pytest.Config) -> None:
    # Two libraries start a short process once, which the stack guard would rightly count: the
    # import of croniter (`file -b python`, platform.architecture()) and the openai SDK's first
    # request (`uname -p`, platform.platform(), cached after). Do both before arming it.
    import croniter  # noqa: F401

    platform.platform()
    config.pluginmanager.register(StackTier(), "stack-tier")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when DATABASE_URL names one (CI's second leg), else a fresh SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'stepwise-test.db'}"


class SessionBytecode(jinja2.BytecodeCache):
    """Templates compiled once per test session instead of once per app.

    Every test makes its own app, and each app's Jinja environment would compile again every
    template it renders (50 to 250 ms a test that renders pages). A production process makes one
    app, so this is the tests' concern only. Jinja checks each entry against its source's checksum.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_BYTECODE = SessionBytecode()


def make_app(database_url: str, **overrides: Any):
    """An app for tests: real configuration path, test database, fixed secret."""
    config = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "STEPWISE_ENV": "development",
        "TESTING": True,
    }
    config.update(overrides)
    app = create_app(config)
    app.jinja_env.bytecode_cache = TEMPLATE_BYTECODE
    return app


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


def add_user(email: str, password: str = "correct-horse-1") -> User:
    """A user written directly, for a test that needs one rather than tests registering. Needs an app context.

    Their password hash uses few PBKDF2 rounds: the default scrypt costs 0.1 to 0.3 s a hash on
    this machine, in almost every stack test. Registering through the form still uses the default.
    """
    user = User(email=email, password_hash=generate_password_hash(password, "pbkdf2:sha256:1000"))
    db.session.add(user)
    db.session.commit()
    return user


def create_user_with_token(app, email: str) -> tuple[int, str]:
    """A user and a live API token for them: (user id, token)."""
    with app.app_context():
        user = add_user(email)
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


@stack_fixture
def live_server(app) -> Iterator[LiveServer]:
    """The app over a real socket on loopback."""
    with LiveServer(app) as server:
        yield server


@stack_fixture
def recorder() -> Iterator[Recorder]:
    """A fresh recording HTTP destination on loopback (tests/support/recorder.py)."""
    with Recorder() as server:
        yield server


@stack_fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAI]:
    """One scripted OpenAI-compatible server for the session (tests/support/fake_openai.py)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The scripted OpenAI-compatible server on loopback, with an empty script."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@stack_fixture
def standin() -> Iterator[LinkedInStandIn]:
    """LinkedIn's OAuth and REST endpoints on loopback (tests/support/linkedin_standin.py)."""
    with LinkedInStandIn() as li:
        yield li
