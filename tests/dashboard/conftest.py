"""Dashboard tests through the Flask test client: logged-in users, QStash and mail as in-memory
doubles, seeds written straight into the database.

Page tests only need to see what would be published or scheduled; tests/engine/ drives the
same pages against the real qstash_dev (test_engine_dashboard.py) and a real SMTP server
(test_engine_mail.py).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from sqlalchemy import event

from extensions import db
from tests.conftest import add_user, csrf_from
from tests.support.mail import RecordingMailer
from tests.support.memory_queue import MemoryQueue

EMAIL = "ada@example.com"
HTMX = HX = {"HX-Request": "true"}


@pytest.fixture
def queue(app) -> MemoryQueue:
    """The app's queue, swapped for the in-memory one."""
    memory = MemoryQueue()
    app.extensions["stepwise"].queue = memory
    return memory


@pytest.fixture
def mailer(app) -> RecordingMailer:
    """Mail "sent" through the recording double (as if MAIL_SERVER were set)."""
    recording = RecordingMailer()
    app.extensions["stepwise"].mailer = recording
    yield recording
    app.extensions["stepwise"].mailer = None


# Accounts here are written with add_user's cheap hash and logged in through the real form:
# the default scrypt costs 0.2 s a hash, twice a test, and registering has its own tests
# (tests/app/test_auth.py, tests/browser/).


@pytest.fixture
def user(app, auth) -> int:
    """Ada, logged in through the login form; her id."""
    with app.app_context():
        user_id = add_user(EMAIL).id
    auth.login(EMAIL)
    return user_id


@pytest.fixture
def ada(user, queue) -> str:
    """Ada, logged in through the login form; her email."""
    return EMAIL


@pytest.fixture
def other_user(app) -> int:
    """Bob, who must never see Ada's things."""
    with app.app_context():
        return add_user("bob@example.com").id


def csrf(client, path: str = "/settings") -> str:
    """A CSRF token of the logged-in session."""
    return csrf_from(client.get(path).get_data(as_text=True))


token_of = csrf


def text_of(html: str) -> str:
    """The visible text of a page, tags stripped and spaces collapsed (for phrase assertions)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
