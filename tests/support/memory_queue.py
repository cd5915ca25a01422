"""An in-memory `Queue` (workflows/engine/queue_client.py) beside the real one, for tests.

Like procrastinate's in-memory connector beside its PostgreSQL one: it keeps what the domain
publishes and the schedules it registers, deduplicates publishes by id as QStash does within its
window, keeps a DLQ that a test fills with `kill` (what QStash does when it gives up on a
message), and can be made unreachable, when every call raises `Unavailable` exactly as
`QStashQueue` does when QStash cannot be reached. tests/engine/test_engine_queue_double.py runs
the same checks against both, so the double cannot drift from the real thing unnoticed.

    services.queue = MemoryQueue()
    ... the domain publishes ...
    assert [m.dedup_id for m in services.queue.published] == ["wf-…-run-1-step-0"]
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from models import utcnow
from workflows.engine.queue_client import DeadLetter, DeadLetterPage, OutgoingMessage
from workflows.errors import Refused, Unavailable

__all__ = ["MemoryQueue"]


class MemoryQueue:
    """Publishes and schedules kept in lists and dicts; `unreachable` makes QStash 'down'."""

    def __init__(self, unreachable: bool = False) -> None:
        self.unreachable = unreachable
        self.published: list[OutgoingMessage] = []  # accepted messages, in order
        self.deduplicated: list[OutgoingMessage] = []  # publishes QStash would have swallowed
        self.schedules: dict[str, dict[str, Any]] = {}  # by id, in list_schedules' shape
        self._message_ids: dict[str, str] = {}  # dedup id -> message id
        self.dlq: dict[str, tuple[str | None, DeadLetter]] = {}  # dlq id -> (label, message), oldest first

    def _reach(self, what: str) -> None:
        if self.unreachable:
            raise Unavailable(f"QStash is unreachable ({what}): the in-memory queue is set unreachable")

    def publish(self, message: OutgoingMessage) -> str:
        """Accept a message, or answer a duplicate of an accepted one with its message id."""
        self._reach("publish")
        if message.dedup_id in self._message_ids:
            self.deduplicated.append(message)
            return self._message_ids[message.dedup_id]
        self.published.append(message)
        message_id = f"msg_memory_{len(self.published)}"
        self._message_ids[message.dedup_id] = message_id
        return message_id

    def upsert_schedule(self, schedule_id: str, destination: str, body: dict, cron: str) -> None:
        """Create or replace a schedule; as in QStash, a replaced one keeps its paused state."""
        self._reach("create schedule")
        paused = self.schedules.get(schedule_id, {}).get("isPaused", False)
        self.schedules[schedule_id] = {"scheduleId": schedule_id, "destination": destination, "cron": cron,
                                       "body": json.dumps(body), "isPaused": paused}

    def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule; one that does not exist is already deleted."""
        self._reach("delete schedule")
        self.schedules.pop(schedule_id, None)

    def pause_schedule(self, schedule_id: str) -> None:
        self._set_paused(schedule_id, True, "pause schedule")

    def resume_schedule(self, schedule_id: str) -> None:
        self._set_paused(schedule_id, False, "resume schedule")

    def _set_paused(self, schedule_id: str, paused: bool, what: str) -> None:
        self._reach(what)
        if schedule_id not in self.schedules:  # QStash answers 404, which QStashQueue reports so
            # As the real client says it: a 4xx is a refusal, never "unreachable".
            raise Refused(f"QStash refused to {what} (HTTP 404: schedule {schedule_id} not found)", 404,
                          f"schedule {schedule_id} not found")
        self.schedules[schedule_id]["isPaused"] = paused

    def list_schedules(self) -> list[dict[str, Any]]:
        """Every schedule as {scheduleId, destination, cron, body, isPaused}."""
        self._reach("list schedules")
        return [dict(schedule) for schedule in self.schedules.values()]

    def kill(self, message: OutgoingMessage, status: int = 500, answer: str = "") -> DeadLetter:
        """Move a published message to the DLQ, as QStash does once its retries are spent."""
        letter = DeadLetter(dlq_id=f"dlq_{uuid.uuid4().hex[:12]}", message_id=self.publish(message),
                            url=message.url, body=json.loads(json.dumps(message.body)), created_at=utcnow(),
                            response_status=status, response_body=answer)
        self.dlq[letter.dlq_id] = (message.label, letter)
        return letter

    def dead_letters(self, label: str, cursor: str | None = None) -> DeadLetterPage:
        """Every DLQ message published with this label (one page: a test's DLQ is short)."""
        self._reach("list DLQ")
        return DeadLetterPage([letter for tag, letter in self.dlq.values() if tag == label], None)

    def dead_letter(self, dlq_id: str) -> DeadLetter | None:
        """One DLQ message, or None."""
        self._reach("read DLQ")
        found = self.dlq.get(dlq_id)
        return found[1] if found else None

    def delete_dead_letter(self, dlq_id: str) -> None:
        """Remove a DLQ message; one that is not there is already removed."""
        self._reach("delete from DLQ")
        self.dlq.pop(dlq_id, None)
