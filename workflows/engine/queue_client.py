"""QStash through the official SDK: publishing, schedules, and signature verification.

The same code talks to Upstash in production and to `qstash_dev` locally; only the URL, the
token and the signing keys differ.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any, Protocol

import httpx
from qstash import QStash, Receiver
from qstash.errors import QStashError, RateLimitExceededError, SignatureError
from qstash.message import FlowControl

from config import Settings
from workflows.encoding import JsonError, loads_strict
from workflows.errors import DomainError, Refused, Unavailable

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
REQUEST_RETRY = {"retries": 1, "backoff": lambda attempt: 200}
# Clock skew we accept between QStash and us when checking nbf/exp.
SIGNATURE_CLOCK_TOLERANCE = 5


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to publish: an absolute URL, a JSON body and its delivery options."""

    url: str
    body: dict[str, Any]
    dedup_id: str
    delay_seconds: int | None = None
    retries: int | None = None
    failure_callback: str | None = None
    timeout_seconds: int | None = None
    label: str | None = None  # QStash filters its logs and DLQ by it (a workflow's step messages)
    # QStash flow control: at most `parallelism` messages of this key delivered at once.
    flow_control_key: str | None = None
    parallelism: int | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A message QStash gave up on, as it sits in the DLQ."""

    dlq_id: str
    message_id: str
    url: str
    body: Any  # the message body parsed as JSON, else None
    created_at: datetime  # when the message was published
    response_status: int | None  # what the last delivery attempt was answered
    response_body: str


@dataclass(frozen=True)
class DeadLetterPage:
    """One page of the DLQ and the cursor of the next (None: the last page)."""

    items: list[DeadLetter]
    cursor: str | None


class Queue(Protocol):
    """What the domain needs from QStash (a fake in unit tests, the SDK otherwise)."""

    def publish(self, message: OutgoingMessage) -> str: ...

    def upsert_schedule(self, schedule_id: str, destination: str, body: dict, cron: str) -> None: ...

    def delete_schedule(self, schedule_id: str) -> None: ...

    def pause_schedule(self, schedule_id: str) -> None: ...

    def resume_schedule(self, schedule_id: str) -> None: ...

    def list_schedules(self) -> list[dict[str, Any]]: ...

    def dead_letters(self, label: str, cursor: str | None = None) -> DeadLetterPage: ...

    def dead_letter(self, dlq_id: str) -> DeadLetter | None: ...

    def delete_dead_letter(self, dlq_id: str) -> None: ...


@cache
def sdk_client(token: str, base_url: str) -> QStash:
    """One SDK client per QStash (and token) per process, shared by every app the process makes.

    Its httpx client holds the connection pool and the CA bundle, which costs 20-30 ms to load:
    made once, not per `create_app`. httpx clients are safe to share between threads.
    """
    client = QStash(token, retry=REQUEST_RETRY, base_url=base_url)
    # The SDK exposes no timeout option; its httpx client is the documented way in.
    client.http._client.timeout = REQUEST_TIMEOUT
    return client


class QStashQueue:
    """The real queue: the `qstash` SDK with short timeouts."""

    def __init__(self, settings: Settings) -> None:
        self._client = sdk_client(settings.qstash_token, settings.qstash_url)
        self._base = settings.qstash_url

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QStashError as exc:
            raise classify(exc, what, self._base) from exc
        except (httpx.HTTPError, OSError) as exc:
            raise Unavailable(f"QStash at {self._base} is unreachable ({what}): {exc}") from exc

    def publish(self, message: OutgoingMessage) -> str:
        """Publish one JSON message; returns QStash's message id."""
        options: dict[str, Any] = {"deduplication_id": message.dedup_id}
        if message.delay_seconds:
            options["delay"] = f"{int(message.delay_seconds)}s"
        if message.retries is not None:
            options["retries"] = message.retries
        if message.failure_callback:
            options["failure_callback"] = message.failure_callback
        if message.timeout_seconds:
            options["timeout"] = f"{int(message.timeout_seconds)}s"
        if message.label:
            options["label"] = message.label
        if message.flow_control_key:
            options["flow_control"] = FlowControl(key=message.flow_control_key, parallelism=message.parallelism)
        response = self._call(
            "publish", self._client.message.publish_json, url=message.url, body=message.body, **options
        )
        return response.message_id

    def upsert_schedule(self, schedule_id: str, destination: str, body: dict, cron: str) -> None:
        """Create or replace the schedule with this id."""
        self._call(
            "create schedule", self._client.schedule.create_json,
            destination=destination, cron=cron, body=body, schedule_id=schedule_id,
        )

    def _unless_missing(self, what: str, fn: Any, *args: Any) -> Any:
        """Call QStash; None when it answers that the thing does not exist (404)."""
        try:
            return self._call(what, fn, *args)
        except Refused as exc:
            if exc.http_status == 404:
                return None
            raise

    def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule; one that does not exist is already deleted."""
        self._unless_missing(f"delete schedule {schedule_id}", self._client.schedule.delete, schedule_id)

    def pause_schedule(self, schedule_id: str) -> None:
        self._call("pause schedule", self._client.schedule.pause, schedule_id)

    def resume_schedule(self, schedule_id: str) -> None:
        self._call("resume schedule", self._client.schedule.resume, schedule_id)

    def list_schedules(self) -> list[dict[str, Any]]:
        """Every schedule as {scheduleId, destination, cron, body, isPaused}."""
        schedules = self._call("list schedules", self._client.schedule.list)
        return [
            {
                "scheduleId": s.schedule_id,
                "destination": s.destination,
                "cron": s.cron,
                "body": s.body,
                "isPaused": s.paused,
            }
            for s in schedules
        ]

    def dead_letters(self, label: str, cursor: str | None = None) -> DeadLetterPage:
        """A page of the DLQ's messages published with this label, oldest first."""
        page = self._call("list DLQ", self._client.dlq.list, cursor=cursor, count=DLQ_PAGE,
                          filter={"label": label})
        return DeadLetterPage([_dead_letter(m) for m in page.messages], page.cursor or None)

    def dead_letter(self, dlq_id: str) -> DeadLetter | None:
        """One DLQ message, or None when it is not (or no longer) in the DLQ."""
        message = self._unless_missing(f"read DLQ message {dlq_id}", self._client.dlq.get, dlq_id)
        return None if message is None else _dead_letter(message)

    def delete_dead_letter(self, dlq_id: str) -> None:
        """Remove a message from the DLQ; one that is not there is already removed."""
        self._unless_missing(f"delete DLQ message {dlq_id}", self._client.dlq.delete, dlq_id)


DLQ_PAGE = 100  # QStash's most per page


def _dead_letter(message: Any) -> DeadLetter:
    """The SDK's DlqMessage as the domain's value."""
    return DeadLetter(
        dlq_id=message.dlq_id, message_id=message.message_id, url=message.url,
        body=body_json(message.body or ""), response_status=message.response_status,
        created_at=datetime.fromtimestamp(message.created_at / 1000, timezone.utc),
        response_body=(message.response_body or "")[:2000],
    )


def verify_signature(settings: Settings, signature: str | None, body: str, url: str) -> str | None:
    """None when QStash signed this body for this URL; otherwise why not."""
    if not signature:
        return "missing Upstash-Signature header"
    receiver = Receiver(settings.qstash_current_signing_key, settings.qstash_next_signing_key)
    try:
        receiver.verify(signature=signature, body=body, url=url, clock_tolerance=SIGNATURE_CLOCK_TOLERANCE)
    except SignatureError as exc:
        return str(exc)
    except Exception as exc:  # a malformed token must be a 401, never a 500
        return f"invalid signature: {exc}"
    return None


def body_json(raw: str) -> Any:
    """Parse a delivered body with the strict reader; None when it is not acceptable JSON."""
    try:
        return loads_strict(raw)
    except JsonError:
        return None


_STATUS = re.compile(r"status: (\d{3}), body: (.*)", re.DOTALL)


def classify(exc: QStashError, what: str, base: str) -> DomainError:
    """A 4xx is a refusal (our request was wrong); a 5xx or a rate limit means "try later"."""
    match = _STATUS.search(str(exc))
    status = int(match.group(1)) if match else None
    if isinstance(exc, RateLimitExceededError) or status is None or status == 429 or status >= 500:
        return Unavailable(f"QStash at {base} is unavailable ({what}): {exc}")
    detail = " ".join(match.group(2).split())[:300]
    log.error("QStash refused to %s: HTTP %s %s", what, status, detail)
    return Refused(f"QStash refused to {what} (HTTP {status}: {detail}); this is a fault on our side, "
                   "not in your request, and it has been logged", status, detail)
