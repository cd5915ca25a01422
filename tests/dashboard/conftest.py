"""Dashboard tests through the Flask test client: a logged-in user, an in-memory queue, seeds.

The in-memory queue (tests/support/dashboard.py) stands in for QStash where a page test only
needs to see what would be published or scheduled; tests/engine/test_engine_dashboard.py drives
the same pages against the real qstash_dev.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from sqlalchemy import event

from extensions import db
from tests.conftest import csrf_from
from tests.support.dashboard import MemoryQueue
from workflows.integrations import accounts

EMAIL = "ada@example.com"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def queue(app) -> MemoryQueue:
    """The app's queue, swapped for the in-memory one."""
    memory = MemoryQueue()
    app.extensions["stepwise"].queue = memory
    return memory


@pytest.fixture
def user(app, auth) -> int:
    """Ada, registered and logged in through the forms; her id."""
    auth.register(EMAIL)
    with app.app_context():
        return accounts.user_by_email(EMAIL).id


@pytest.fixture
def other_user(app) -> int:
    """Bob, who must never see Ada's things."""
    with app.app_context():
        return accounts.create_user("bob@example.com", "correct-horse-1").id


def csrf(client, path: str = "/settings") -> str:
    """A CSRF token of the logged-in session."""
    return csrf_from(client.get(path).get_data(as_text=True))


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
