"""The sweep's repair, made provable: publishes lost between the commit and the flush (the process
dying right there, or QStash refusing the message) while many runs start at once. Every run still
completes, and each side effect happens once."""
from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from extensions import db
from models import PendingPublish, Run
from tests.engine.conftest import TERMINAL, compose, http_step, make_stack, qstash, stack  # noqa: F401 (fixtures)
from tests.reliability.figures import record
from tests.reliability.scale import scaled
from tests.reliability.sink import Sink
from workflows.errors import Refused

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback


class DiedHere(BaseException):
    """The process ending between the commit and the flush: no handler runs, no answer is sent."""


class LosingQueue:
    """The real queue, losing the first publish of every message: odd ones refused, even ones 'died'."""

    def __init__(self, queue: Any) -> None:
        self._queue, self._seen, self._lock = queue, set(), threading.Lock()
        self.refused = self.died = 0

    def publish(self, message: Any) -> str:
        with self._lock:
            first = message.dedup_id not in self._seen
            self._seen.add(message.dedup_id)
            number = len(self._seen)
            if first and number % 2:
                self.refused += 1
            elif first:
                self.died += 1
        if first and number % 2:
            raise Refused("QStash refused to publish (HTTP 400: injected)", 400, "injected")
        if first:
            raise DiedHere()
        return self._queue.publish(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


# The request threads that 'die' end with an exception pytest would otherwise report.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_runs_started_at_once_complete_though_every_first_publish_is_lost(stack):
    runs = scaled(12, 40)
    with Sink() as sink:
        workflow = stack.create_workflow(goal="Lossy", steps=[compose("a"), http_step(sink.url + "/hook"), compose("c")])
        losing = LosingQueue(stack.services.queue)
        stack.services.queue = losing

        def start() -> None:
            try:
                stack.api("POST", f"/api/workflows/{workflow['id']}/runs")
            except Exception:  # the request 'died' after its commit: the client gets no answer
                pass

        starters = [threading.Thread(target=start) for _ in range(runs)]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join(60)
        with stack.db():
            run_ids = db.session.scalars(sa.select(Run.id).where(Run.workflow_id == workflow["id"])).all()
            unsent = db.session.scalar(sa.select(sa.func.count()).select_from(PendingPublish)
                                       .where(PendingPublish.sent_at.is_(None)))
        assert len(run_ids) == runs and unsent == runs  # every run committed, not one first step sent
        record("faults injected", runs)

        stack.clock.advance(minutes=1)  # the sweep leaves rows younger than 30 s to their writer
        swept = stack.deliver("/api/maintenance/sweep", {})
        assert swept.status_code == 200 and swept.json()["published"] >= 1
        # Later steps lose their first publish too; QStash redelivers the completed step (503),
        # which flushes again. Any left for the sweep, a further sweep takes.
        finished = []
        for run_id in run_ids:
            run = stack.wait_run(run_id, TERMINAL | {"pending"}, timeout=60)
            if run["status"] == "pending":
                stack.clock.advance(minutes=1)
                stack.deliver("/api/maintenance/sweep", {})
            finished.append(stack.wait_run(run_id, TERMINAL, timeout=120))
        expected = {f"wf-{workflow['id']}-run-{r}-step-1" for r in run_ids}
        assert [r["status"] for r in finished] == ["completed"] * runs
        assert sink.effects() == expected and sink.repeats() == 0
        record("lost messages", len(expected - sink.effects()))
        record("duplicate side effects", sink.repeats())
        record("faults survived", runs)
        assert losing.refused and losing.died
