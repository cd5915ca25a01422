"""The domain's collaborators, passed in rather than imported, so tests can swap any of them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from config import Settings
from models import utcnow
from workflows.engine.queue_client import QStashQueue, Queue


@dataclass(frozen=True)
class OutgoingEmail:
    """One email as the SMTP server gets it."""

    to: str
    subject: str
    text: str
    html: str | None
    message_id: str  # the same on every try, so a receiving client can drop a duplicate


class Mailer(Protocol):
    """Hands emails to an SMTP server (workflows/integrations/mail.py; a recording double in tests)."""

    def send(self, email: OutgoingEmail) -> None:
        """Send one email; raise MailError when the server is unreachable or refuses it."""


@dataclass
class Services:
    """Settings, the queue, the language model (or None), the mailer (or None) and the clock.

    Without a mailer (no MAIL_SERVER), emails stay in the outbox and the dev mailbox shows them.
    """

    settings: Settings
    queue: Queue
    llm: Any = None
    clock: Callable[[], datetime] = utcnow
    mailer: Mailer | None = None

    def url(self, path: str) -> str:
        """The public URL QStash delivers to for one of our paths."""
        return self.settings.app_base_url + path


def build_services(settings: Settings) -> Services:
    """The production wiring: the QStash SDK and, when configured, the model and SMTP."""
    llm = mailer = None
    if settings.llm_configured:
        from workflows.integrations.llm import make_llm

        llm = make_llm(settings)
    if settings.mail_server:
        from workflows.integrations.mail import FlaskMailer

        mailer = FlaskMailer()
    return Services(settings=settings, queue=QStashQueue(settings), llm=llm, mailer=mailer)
