"""Domain errors (the blueprints map them to status codes and pages) and tool errors (the engine
maps them to a failed step or a QStash retry)."""
from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a user can act on; `message` is shown to them as is."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Malformed(DomainError):
    """The request is not the right shape (not JSON, wrong types)."""

    status = 400


class Invalid(DomainError):
    """A value is well-formed but not acceptable; `field` names it."""

    status = 422


class NotFound(DomainError):
    """Missing, or another user's: the two are indistinguishable on purpose."""

    status = 404


class Conflict(DomainError):
    """The thing was already decided, claimed or taken."""

    status = 409


class Unavailable(DomainError):
    """A dependency (QStash, the model) did not answer."""

    status = 503


class Refused(DomainError):
    """A dependency answered but refused our request (a 4xx that no retry changes).

    Never "unreachable": the request was wrong, which is our fault unless a caller maps it to
    the user's input (a schedule QStash will not take is a 422 naming `schedule`).
    """

    status = 500

    def __init__(self, message: str, http_status: int, detail: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.detail = detail


class MailError(Exception):
    """The SMTP server was unreachable or refused an email; the outbox tries again later."""


class ToolError(Exception):
    """A failure a retry cannot change (bad input, a 4xx from a third party): fails the step.

    `nothing_done`: an at-most-once tool is certain its effect did not happen (the request was
    never sent, or the other side refused it), so a retry needs nobody to check first.
    """

    def __init__(self, message: str, field: str | None = None, nothing_done: bool = False) -> None:
        super().__init__(message)
        self.field = field  # the input field at fault, e.g. "toolInput.url", when there is one
        self.nothing_done = nothing_done


class RetryableToolError(Exception):
    """A failure a retry may cure (network, timeout, 5xx, 429): QStash retries the step."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
