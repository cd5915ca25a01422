"""Mail for tests: a real SMTP server on loopback (aiosmtpd) and a recording Mailer double.

    with SmtpServer() as smtp:                  # MAIL_SERVER=127.0.0.1, MAIL_PORT=smtp.port
        ... something sends ...
        (message,) = smtp.wait_for(1)            # email.message.EmailMessage objects
        smtp.stop(); smtp.start()                # down and back up on the same port
"""
from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.qstash_server import free_port
from workflows.errors import MailError
from workflows.ports import OutgoingEmail


class _Handler:
    def __init__(self, server: "SmtpServer") -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)
        return "250 OK"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 at a fixed free port, recording every message it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> "SmtpServer":
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def config(self) -> dict[str, Any]:
        """App configuration that sends mail here."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port}

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        """Block until `count` messages arrived; return them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} emails, got {len(self.messages)}")


def body(message: EmailMessage, subtype: str = "plain") -> str:
    """The text or HTML part of a received message."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


class RecordingMailer:
    """A Mailer double: records what it is asked to send, or fails while `down` is set."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.down = False

    def send(self, outgoing: OutgoingEmail) -> None:
        if self.down:
            raise MailError("SMTP server unreachable: connection refused")
        self.sent.append(outgoing)
