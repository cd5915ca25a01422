"""The people side of the dashboard through the Flask test client: approvals, emailed links,
settings, the dev mailbox. QStash is a recording double here (the engine has its own tests)."""
from __future__ import annotations

import pytest

from tests.conftest import csrf_from
from tests.support.approvals import RecordingQueue
from tests.support.mail import RecordingMailer

HX = {"HX-Request": "true"}


@pytest.fixture
def queue(app) -> RecordingQueue:
    recording = RecordingQueue()
    app.extensions["stepwise"].queue = recording
    return recording


@pytest.fixture
def mailer(app) -> RecordingMailer:
    """Mail "sent" through the recording double (as if MAIL_SERVER were set)."""
    recording = RecordingMailer()
    app.extensions["stepwise"].mailer = recording
    yield recording
    app.extensions["stepwise"].mailer = None


@pytest.fixture
def ada(auth, queue):
    """Ada, registered and logged in through the forms."""
    auth.register("ada@example.com", "correct-horse-1")
    return "ada@example.com"


def token_of(client, path: str = "/settings") -> str:
    """A CSRF token from a page of the logged-in client."""
    return csrf_from(client.get(path).get_data(as_text=True))
