"""SMTP through Flask-Mail: the production `Mailer` (workflows/ports.py).

Flask-Mail builds the message (address sanitising, header-injection checks, multipart text and
HTML) and talks SMTP; the only thing added here is a timeout, because a mail server that hangs
must not hold a request or a QStash delivery for ever.
"""
from __future__ import annotations

import smtplib
import socket

from flask import current_app
from flask_mail import BadHeaderError, Connection, Message

from workflows.errors import MailError
from workflows.ports import OutgoingEmail

SMTP_TIMEOUT_SECONDS = 15


class _TimedConnection(Connection):
    """Flask-Mail's connection, with a socket timeout."""

    def configure_host(self) -> smtplib.SMTP:
        mail = self.mail
        host_class = smtplib.SMTP_SSL if mail.use_ssl else smtplib.SMTP
        host = host_class(mail.server, mail.port, timeout=SMTP_TIMEOUT_SECONDS)
        if mail.use_tls:
            host.starttls()
        if mail.username and mail.password:
            host.login(mail.username, mail.password)
        return host


class FlaskMailer:
    """Send each email over its own SMTP connection (MAIL_SERVER, MAIL_PORT, ...)."""

    def send(self, email: OutgoingEmail) -> None:
        """Hand the email to the SMTP server; MailError with the server's words on failure."""
        state = current_app.extensions["mail"]
        message = Message(subject=email.subject, recipients=[email.to], body=email.text,
                          html=email.html, sender=state.default_sender)
        message.msgId = email.message_id  # Flask-Mail writes the Message-ID header from it
        try:
            with _TimedConnection(state) as connection:
                connection.send(message)
        except (smtplib.SMTPException, OSError, socket.timeout, BadHeaderError) as exc:
            raise MailError(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = "; ".join(f"{addr}: {code} {msg.decode(errors='replace')}" for addr, (code, msg) in exc.recipients.items())
        return f"recipient refused ({codes})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP {exc.smtp_code}: {exc.smtp_error.decode(errors='replace')}"
    if isinstance(exc, BadHeaderError):
        return "refused: a header contains a line break"
    return f"SMTP server unreachable: {exc or type(exc).__name__}"
