"""Dashboard tests through the Flask test client: a logged-in user, an in-memory queue, seeds.

The in-memory queue stands in for QStash where a page test only needs to see what would be
published or scheduled; tests/engine/test_engine_dashboard.py drives the same pages against the
real qstash_dev.
"""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

import pytest
from sqlalchemy import event

from extensions import db
from models import Run, RunStatus, RunStep, StepStatus, Trigger, Workflow, WorkflowStep, utcnow
from tests.conftest import csrf_from
from workflows.engine.queue_client import OutgoingMessage
from workflows.errors import Unavailable
from workflows.integrations import accounts

EMAIL = "ada@example.com"
HTMX = {"HX-Request": "true"}


@dataclass
class MemoryQueue:
    """QStash as a dictionary: schedules by id (cron, paused) and every published message."""

    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: list[OutgoingMessage] = field(default_factory=list)
    down: bool = False

    def _up(self) -> None:
        if self.down:
            raise Unavailable("QStash at memory:// is unreachable (test)")

    def publish(self, message: OutgoingMessage) -> str:
        self._up()
        self.published.append(message)
        return f"msg_{len(self.published)}"

    def upsert_schedule(self, schedule_id: str, destination: str, body: dict, cron: str) -> None:
        self._up()
        self.schedules[schedule_id] = {"cron": cron, "paused": False, "body": body}

    def delete_schedule(self, schedule_id: str) -> None:
        self._up()
        self.schedules.pop(schedule_id, None)

    def pause_schedule(self, schedule_id: str) -> None:
        self._up()
        self.schedules[schedule_id]["paused"] = True

    def resume_schedule(self, schedule_id: str) -> None:
        self._up()
        self.schedules[schedule_id]["paused"] = False

    def list_schedules(self) -> list[dict[str, Any]]:
        return []


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


def add_workflow(owner_id: int, goal: str = "Weekly digest", schedule: str | None = None, **extra: Any) -> str:
    """A workflow with one compose step, written directly; its id. Needs an app context."""
    steps = extra.pop("steps", None) or [WorkflowStep(index=0, tool_name="compose", tool_input={"template": "hi"})]
    workflow = Workflow(owner_id=owner_id, goal=goal, schedule=schedule, steps=steps, **extra)
    db.session.add(workflow)
    db.session.commit()
    return workflow.id


def add_run(workflow_id: str, status: str = "completed", created: datetime | None = None,
            steps: list[RunStep] | None = None, **extra: Any) -> int:
    """A run in a given state (the rows the engine would leave), written directly; its id."""
    created = created or utcnow()
    finished = None if status in ("pending", "running", "awaiting_approval") else created + timedelta(seconds=3)
    run = Run(workflow_id=workflow_id, conversation_id=f"conv_{uuid.uuid4().hex}", trigger=Trigger.SCHEDULE,
              status=RunStatus(status), created_at=created, started_at=created, finished_at=finished, **extra)
    run.steps = steps if steps is not None else [
        RunStep(step_index=0, tool_name="compose", tool_input={"template": "hi"},
                status=StepStatus.COMPLETED if status == "completed" else StepStatus.PENDING,
                attempts=1, started_at=created, finished_at=finished, output={"text": "hi"})]
    db.session.add(run)
    db.session.commit()
    return run.id


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
