"""The in-memory queue behaves as the real one (QStashQueue on qstash_dev) wherever the domain looks.

Each check runs on both; the real one is in the stack tier.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from config import Settings
from tests.support.loopback import free_port
from tests.support.memory_queue import MemoryQueue
from tests.support.waiting import eventually
from workflows.engine.queue_client import OutgoingMessage, QStashQueue
from workflows.errors import Refused, Unavailable

QUEUES = ["memory", pytest.param("qstash", marks=pytest.mark.stack)]
NOWHERE = "http://127.0.0.1:9/api/workflows/step"  # never delivered: every message waits an hour


@pytest.fixture(params=QUEUES)
def queue(request: pytest.FixtureRequest) -> Any:
    """A reachable queue of each kind."""
    if request.param == "memory":
        return MemoryQueue()
    qstash = request.getfixturevalue("qstash")
    return QStashQueue(Settings(qstash_url=qstash.url, qstash_token=qstash.token))


@pytest.fixture(params=QUEUES)
def unreachable(request: pytest.FixtureRequest) -> Any:
    """A queue of each kind whose QStash cannot be reached."""
    if request.param == "memory":
        return MemoryQueue(unreachable=True)
    return QStashQueue(Settings(qstash_url=f"http://127.0.0.1:{free_port()}"))


def message(dedup_id: str) -> OutgoingMessage:
    return OutgoingMessage(url=NOWHERE, body={"runId": 1}, dedup_id=dedup_id, delay_seconds=3600)


def test_a_second_publish_with_the_same_dedup_id_answers_the_first_message_id(queue):
    dedup_id = f"wf-double-run-1-step-{uuid.uuid4().hex}"
    first = queue.publish(message(dedup_id))
    again = queue.publish(OutgoingMessage(url=NOWHERE, body={"runId": 2}, dedup_id=dedup_id, delay_seconds=3600))
    other = queue.publish(message(dedup_id + "-decision-1"))
    assert first and again == first and other not in ("", first)


def test_schedules_are_created_paused_replaced_resumed_and_deleted(queue):
    sid = f"wf-{uuid.uuid4().hex[:16]}"
    queue.upsert_schedule(sid, "http://127.0.0.1:9/api/workflows/trigger", {"workflowId": sid}, "0 9 * * 1")
    [listed] = [s for s in queue.list_schedules() if s["scheduleId"] == sid]
    assert {k: v for k, v in listed.items() if k != "body"} == {
        "scheduleId": sid, "destination": "http://127.0.0.1:9/api/workflows/trigger", "cron": "0 9 * * 1",
        "isPaused": False}
    assert json.loads(listed["body"]) == {"workflowId": sid}

    queue.pause_schedule(sid)
    queue.upsert_schedule(sid, "http://127.0.0.1:9/api/workflows/trigger", {"workflowId": sid}, "30 8 * * *")
    [replaced] = [s for s in queue.list_schedules() if s["scheduleId"] == sid]
    assert (replaced["cron"], replaced["isPaused"]) == ("30 8 * * *", True)  # a replacement stays paused
    queue.resume_schedule(sid)
    assert [s["isPaused"] for s in queue.list_schedules() if s["scheduleId"] == sid] == [False]

    queue.delete_schedule(sid)
    queue.delete_schedule(sid)  # already deleted: no error
    assert sid not in {s["scheduleId"] for s in queue.list_schedules()}
    with pytest.raises(Refused, match="HTTP 404"):
        queue.pause_schedule(sid)


def test_an_unreachable_queue_raises_unavailable_for_every_call(unreachable):
    calls = [lambda: unreachable.publish(message("x")), unreachable.list_schedules,
             lambda: unreachable.upsert_schedule("wf-x", NOWHERE, {}, "* * * * *"),
             lambda: unreachable.delete_schedule("wf-x"), lambda: unreachable.pause_schedule("wf-x"),
             lambda: unreachable.resume_schedule("wf-x"), lambda: unreachable.dead_letters("wf-x"),
             lambda: unreachable.dead_letter("dlq_x"), lambda: unreachable.delete_dead_letter("dlq_x")]
    for call in calls:
        with pytest.raises(Unavailable, match="unreachable"):
            call()


def _given_up(queue: Any, label: str) -> Any:
    """A step message QStash gave up on, with this label: the real one tries a closed port once."""
    dead = OutgoingMessage(url=NOWHERE, body={"workflowId": label, "runId": 7}, dedup_id=f"{label}-run-7-step-0",
                           retries=0, label=label)
    if isinstance(queue, MemoryQueue):
        return queue.kill(dead)
    queue.publish(dead)
    return eventually(lambda: queue.dead_letters(label).items, timeout=20, what="the message in the DLQ")[0]


def test_the_dlq_is_listed_by_label_read_and_emptied(queue):
    label = f"wf-{uuid.uuid4().hex[:16]}"
    letter = _given_up(queue, label)
    page = queue.dead_letters(label)
    assert [(d.dlq_id, d.body, d.url) for d in page.items] == [(letter.dlq_id, {"workflowId": label, "runId": 7}, NOWHERE)]
    assert page.cursor is None and queue.dead_letters(label + "-other").items == []
    assert queue.dead_letter(letter.dlq_id) == letter
    queue.delete_dead_letter(letter.dlq_id)
    queue.delete_dead_letter(letter.dlq_id)  # already removed: no error
    assert queue.dead_letter(letter.dlq_id) is None and queue.dead_letters(label).items == []
