"""SMTP down while approvals are requested: every approval is recorded all the same, its email
goes out once the server is back, and no email goes out twice.

A real SMTP server (aiosmtpd on loopback) that the test stops and starts on the same port; the
app in a thread on the embedded stack (qstash_dev delivering every step), so the test can move
the app's clock past the outbox's backoff. Half the runs ask for approval while the server is
up, half while it is down.
"""
from __future__ import annotations

from typing import Iterator

import pytest
import sqlalchemy as sa

from extensions import db
from models import Outbox
from tests.engine.conftest import make_stack, qstash  # noqa: F401 (fixtures)
from tests.reliability.figures import note, record
from tests.reliability.scale import scaled
from tests.reliability.sink import Sink
from tests.support.mail import SmtpServer
from tests.support.waiting import eventually
from workflows.engine.sending import backoff

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, SMTP, sinks) on loopback

RUNS = scaled(10, 50)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _outbox(stack) -> dict[str, tuple[str, int, str | None]]:  # type: ignore[no-untyped-def]
    """Every approval request in the outbox: dedup key -> (status, attempts, error)."""
    with stack.db():
        return {row.dedup_key: (row.status.value, row.attempts, row.error)
                for row in db.session.scalars(sa.select(Outbox).where(Outbox.dedup_key.like("approval-%-request")))}


def _ask(stack, workflow_id: str, count: int) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Start `count` runs and wait until each has recorded its approval: approval id -> run id."""
    runs = [stack.run_now(workflow_id) for _ in range(count)]
    return {stack.wait_approval(run_id, timeout=60)["id"]: run_id for run_id in runs}


def _keys(approvals: dict[int, int]) -> set[str]:
    return {f"approval-{a}-request" for a in approvals}


def test_approvals_requested_while_smtp_is_down_are_mailed_once_it_is_back(make_stack, smtp):
    stack = make_stack(**smtp.config, APPROVAL_TTL_HOURS=8)
    with Sink() as sink:
        workflow = stack.create_workflow(goal="Tell the team", steps=[
            {"toolName": "http_request", "toolInput": {"url": sink.url + "/hook", "json": {"text": "hi"}}}])
        up = _ask(stack, workflow["id"], RUNS // 2)
        smtp.wait_for(len(up), timeout=30)

        smtp.stop()
        record("faults injected")
        down = _ask(stack, workflow["id"], RUNS - len(up))
        # Each approval commits before its email is tried: wait for every try to have failed.
        outbox = eventually(lambda: _outbox(stack), timeout=30, what="every send to the stopped server to fail",
                            until=lambda rows: all(rows.get(k, ("", 0, None))[2] for k in _keys(down)))
        assert {k: v[:2] for k, v in outbox.items() if k in _keys(down)} == {k: ("queued", 1) for k in _keys(down)}
        assert all("unreachable" in outbox[k][2] for k in _keys(down))
        assert {k: v[:2] for k, v in outbox.items() if k in _keys(up)} == {k: ("sent", 1) for k in _keys(up)}

        smtp.start()
        assert stack.deliver("/api/maintenance/sweep", {}).json()["emailsSent"] == 0  # the backoff is not over
        stack.clock.advance(seconds=backoff(1).total_seconds() + 1)
        assert stack.deliver("/api/maintenance/sweep", {}).json()["emailsSent"] == len(down)
        messages = smtp.wait_for(RUNS, timeout=30)
        for _ in range(3):  # later sweeps, hours later: nothing goes out again
            stack.clock.advance(hours=1)
            assert stack.deliver("/api/maintenance/sweep", {}).json()["emailsSent"] == 0

        ids = [message["Message-ID"] for message in smtp.messages]
        expected = {f"<{key}@stepwise>" for key in _keys({**up, **down})}
        lost, twice = len(expected - set(ids)), len(ids) - len(set(ids))
        record("lost messages", lost)
        record("duplicate side effects", twice)
        assert len(messages) == RUNS and set(ids) == expected and twice == 0
        after = _outbox(stack)
        assert {k: v[:2] for k, v in after.items()} == {**{k: ("sent", 1) for k in _keys(up)},
                                                        **{k: ("sent", 2) for k in _keys(down)}}

        # The approvals were recorded all along: each decides, and each run's webhook fires once.
        for approval_id in {**up, **down}:
            assert stack.decide(approval_id, decision="approve").status_code == 200
        for run_id in {**up, **down}.values():
            assert stack.wait_run(run_id, timeout=60)["status"] == "completed"
        assert len(sink.effects()) == RUNS and sink.repeats() == 0
        record("duplicate side effects", sink.repeats())
    note("emails held while SMTP was down", f"{len(down)} of {RUNS}, each sent once")
    record("faults survived")
