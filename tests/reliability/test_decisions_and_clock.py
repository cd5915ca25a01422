"""Concurrency and the clock: ten decisions at once on one approval, a decision after expiry, and a
schedule across both DST changes of a year in two zones (exactly one run per intended local time)."""
from __future__ import annotations

import threading
import uuid
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa

from extensions import db
from models import Run, utcnow
from qstash_dev.cron import next_fire_times
from tests.engine.conftest import TERMINAL, compose, make_stack, qstash, sign, stack  # noqa: F401 (fixtures)
from tests.reliability.figures import record
from tests.reliability.sink import Sink

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback


def test_ten_concurrent_decisions_one_wins_one_effect(stack):
    with Sink() as sink:
        workflow = stack.create_workflow(goal="Decide once", steps=[
            {"toolName": "http_request", "toolInput": {"url": sink.url + "/hook", "json": {"a": 1}}}])
        run_id = stack.run_now(workflow["id"])
        approval = stack.wait_approval(run_id)
        start = threading.Barrier(10)
        answers: list[int] = []

        def decide(i: int) -> None:
            with httpx.Client(timeout=30) as client:
                start.wait()
                answers.append(client.post(f"{stack.url}/api/approvals/{approval['id']}",
                                           json={"decision": "approve" if i % 3 else "reject"},
                                           headers={"Authorization": f"Bearer {stack.token}"}).status_code)

        threads = [threading.Thread(target=decide, args=(i,)) for i in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        record("faults injected")
        assert sorted(answers) == [200] + [409] * 9, answers
        run = stack.wait_run(run_id)
        decided = run["approvals"][0]["status"]
        assert run["status"] == ("completed" if decided == "approved" else "rejected")
        assert len(sink.effects()) == (1 if decided == "approved" else 0) and sink.repeats() == 0
        record("duplicate side effects", sink.repeats())
        record("faults survived")


def test_a_decision_after_expiry_is_refused_even_before_the_expiry_message(stack):
    """Late is late: the decision is refused (409) and changes nothing; the expiry message, when it
    comes, ends the run."""
    workflow = stack.create_workflow(goal="Too late", steps=[
        {"toolName": "send_email", "toolInput": {"to": "a@example.com", "subject": "s", "body": "b"}}])
    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    stack.clock.advance(hours=72, minutes=1)  # past APPROVAL_TTL_HOURS; the delayed expiry is hours away
    response = stack.decide(approval["id"], decision="approve")
    record("faults injected")
    assert response.status_code == 409 and "expired" in response.json()["error"]
    run = stack.run(run_id)
    assert run["status"] == "awaiting_approval" and run["approvals"][0]["status"] == "pending"
    expiry = stack.deliver("/api/approvals/expire", {"approvalId": approval["id"]})  # arrives late
    assert expiry.status_code == 200 and expiry.json()["status"] == "expired"
    run = stack.run(run_id)
    assert run["status"] == "expired" and run["approvals"][0]["status"] == "expired"
    record("faults survived")


DST_DAYS = {  # the days clocks change in 2027
    "Europe/Berlin": (date(2027, 3, 28), date(2027, 10, 31)),
    "America/New_York": (date(2027, 3, 14), date(2027, 11, 7)),
}


@pytest.mark.parametrize("zone", DST_DAYS)
def test_a_schedule_across_both_dst_changes_runs_once_per_intended_local_time(stack, zone):
    """02:30 does not exist on the spring day and happens twice on the autumn day. QStash (any
    instance following the shared rule) fires once; we deliver each tick twice, late, and once more
    at the repeated 02:30, and still get exactly one run per local day."""
    workflow = stack.create_workflow(goal="Nightly", schedule="30 2 * * *", timezone=zone, steps=[compose("x")])
    days = [d + timedelta(days=k) for d in DST_DAYS[zone] for k in (-2, -1, 0, 1, 2)]
    ticks = []
    for day in days:
        before = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - timedelta(hours=12)
        (tick,) = next_fire_times("30 2 * * *", zone, before, 1)
        ticks.append(tick)
        for late in (timedelta(seconds=2), timedelta(seconds=40), timedelta(hours=1)):  # redeliveries
            stack.clock.offset = (tick + late) - utcnow()
            reply = stack.deliver("/api/workflows/trigger", {"workflowId": workflow["id"]},
                                  message_id=f"msg_{uuid.uuid4().hex}")
            assert reply.status_code == 200, reply.text
    record("faults injected", len(days) * 2)
    with stack.db():
        scheduled = db.session.scalars(
            sa.select(Run.scheduled_for).where(Run.workflow_id == workflow["id"]).order_by(Run.scheduled_for)
        ).all()
    local = [t.astimezone(ticks[0].tzinfo) for t in scheduled]
    assert [t.date() for t in local] == days, "one run per local day, none missing, none twice"
    assert scheduled == [t.astimezone(timezone.utc) for t in ticks]
    spring, autumn = local[2], local[7]
    assert (spring.hour, spring.minute) == (3, 0)  # the gap: once, just after it
    assert (autumn.hour, autumn.minute, autumn.fold) == (2, 30, 0)  # the overlap: its first occurrence
    record("faults survived", len(days) * 2)
