"""QStash and the database agree about a workflow's schedule after any failure between them.

Each test changes a schedule for real (qstash_dev over HTTP), then makes the database commit that
should record the change fail (a fault injected at the commit, as if the database had just gone),
and sometimes QStash too, and checks what both hold afterwards and after the minute sweep.
"""
from __future__ import annotations

import threading
from typing import Any

import pytest
from qstash import QStash
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from extensions import db
from models import Workflow
from tests.engine.conftest import compose, make_stack, qstash, stack  # noqa: F401 (fixtures)
from tests.reliability.figures import record
from workflows.errors import Unavailable

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback


class FaultyQueue:
    """The real queue, with faults: fail the commit after a call, or fail every call while `down`."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        self.fail_commit_after: set[str] = set()
        self.down_after_fault = False
        self.down = False
        self._armed = threading.local()
        event.listen(Session, "before_commit", self._before_commit)

    def close(self) -> None:
        event.remove(Session, "before_commit", self._before_commit)

    def _before_commit(self, session: Session) -> None:
        if getattr(self._armed, "on", False):
            self._armed.on = False
            if self.down_after_fault:
                self.down = True
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._queue, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise Unavailable("QStash at test is unreachable (injected)")
            result = method(*args, **kwargs)
            if name in self.fail_commit_after:
                self.fail_commit_after.discard(name)
                self._armed.on = True
            return result

        return call


@pytest.fixture
def faulty(stack):  # type: ignore[no-untyped-def]
    queue = FaultyQueue(stack.services.queue)
    stack.services.queue = queue
    yield queue
    queue.close()


def qstash_cron(stack, workflow_id: str) -> str | None:  # type: ignore[no-untyped-def]
    schedules = {s.schedule_id: s for s in QStash(stack.qstash.token, base_url=stack.qstash.url).schedule.list()}
    found = schedules.get(f"wf-{workflow_id}")
    return None if found is None else found.cron


def db_state(stack, workflow_id: str) -> tuple[Any, ...] | None:  # type: ignore[no-untyped-def]
    with stack.db():
        row = db.session.get(Workflow, workflow_id)
        return None if row is None else (row.schedule, row.schedule_changing_since is not None)


def sweep(stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    stack.clock.advance(minutes=2)
    response = stack.deliver("/api/maintenance/sweep", {})
    assert response.status_code == 200, response.text
    return response.json()


def test_patch_whose_commit_fails_puts_the_old_schedule_back(stack, faulty):
    workflow = stack.create_workflow(goal="g", schedule="0 9 * * *", steps=[compose("x")])
    faulty.fail_commit_after.add("upsert_schedule")
    response = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"schedule": "30 6 * * *"})
    record("faults injected")
    assert response.status_code == 503, response.text
    assert qstash_cron(stack, workflow["id"]) == "0 9 * * *"
    assert db_state(stack, workflow["id"]) == ("0 9 * * *", True)
    assert sweep(stack)["schedulesRepaired"] == 1
    assert db_state(stack, workflow["id"]) == ("0 9 * * *", False)
    assert qstash_cron(stack, workflow["id"]) == "0 9 * * *"
    record("faults survived")


def test_when_qstash_fails_too_the_sweep_makes_them_agree_once_it_answers(stack, faulty):
    workflow = stack.create_workflow(goal="g", schedule="0 9 * * *", steps=[compose("x")])
    faulty.fail_commit_after.add("upsert_schedule")
    faulty.down_after_fault = True  # the compensation cannot reach QStash either
    response = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"schedule": "30 6 * * *"})
    record("faults injected", 2)
    assert response.status_code == 503
    assert qstash_cron(stack, workflow["id"]) == "30 6 * * *"  # they disagree for now...
    assert sweep(stack)["schedulesRepaired"] == 0  # ...and QStash still does not answer
    faulty.down = False
    assert sweep(stack)["schedulesRepaired"] == 1
    assert qstash_cron(stack, workflow["id"]) == "0 9 * * *"
    assert db_state(stack, workflow["id"]) == ("0 9 * * *", False)
    record("faults survived", 2)


def test_a_second_change_while_one_is_in_flight_is_409(stack, faulty):
    workflow = stack.create_workflow(goal="g", schedule="0 9 * * *", steps=[compose("x")])
    faulty.fail_commit_after.add("upsert_schedule")
    faulty.down_after_fault = True
    stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"schedule": "30 6 * * *"})
    faulty.down = False
    again = stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"schedule": "15 7 * * *"})
    assert again.status_code == 409 and "in progress" in again.json()["error"]
    stack.clock.advance(minutes=2)  # a mark older than a minute was left by a failure: take it over
    assert stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"schedule": "15 7 * * *"}).status_code == 200
    assert qstash_cron(stack, workflow["id"]) == "15 7 * * *"
    assert db_state(stack, workflow["id"]) == ("15 7 * * *", False)


def test_pausing_whose_commit_fails_leaves_the_schedule_running(stack, faulty):
    workflow = stack.create_workflow(goal="g", schedule="0 9 * * *", steps=[compose("x")])
    faulty.fail_commit_after.add("pause_schedule")
    assert stack.api("PATCH", f"/api/workflows/{workflow['id']}", json={"paused": True}).status_code == 503
    record("faults injected")
    schedules = {s.schedule_id: s for s in QStash(stack.qstash.token, base_url=stack.qstash.url).schedule.list()}
    assert schedules[f"wf-{workflow['id']}"].paused is False
    record("faults survived")


def test_delete_whose_commit_fails_keeps_the_schedule(stack, faulty):
    workflow = stack.create_workflow(goal="g", schedule="0 9 * * *", steps=[compose("x")])
    faulty.fail_commit_after.add("delete_schedule")
    assert stack.api("DELETE", f"/api/workflows/{workflow['id']}").status_code == 503
    record("faults injected")
    assert db_state(stack, workflow["id"]) == ("0 9 * * *", True)
    assert qstash_cron(stack, workflow["id"]) == "0 9 * * *"
    assert stack.api("GET", f"/api/workflows/{workflow['id']}").status_code == 200
    record("faults survived")


def test_a_tick_of_a_workflow_that_is_gone_deletes_its_schedule(stack):
    """Creation registered the schedule, then neither the insert nor the clean-up went through."""
    sid = "wf-0123456789abcdef"
    stack.services.queue.upsert_schedule(sid, stack.url + "/api/workflows/trigger",
                                         {"workflowId": "0123456789abcdef"}, "0 9 * * *")
    record("faults injected")
    response = stack.deliver("/api/workflows/trigger", {"workflowId": "0123456789abcdef"},
                             **{"Upstash-Schedule-Id": sid})
    assert response.status_code == 489
    assert qstash_cron(stack, "0123456789abcdef") is None
    record("faults survived")
