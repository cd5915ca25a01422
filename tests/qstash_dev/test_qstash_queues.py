"""Queues: enqueue, parallelism, pause/resume, and the SDK's QueueApi."""

from __future__ import annotations

from typing import Callable

import pytest
from qstash import QStash
from qstash.errors import QStashError

from tests.support.recorder import RecordedRequest, Recorder


def max_overlap(requests: list[RecordedRequest], duration: float) -> int:
    """The most requests in progress at once, for a destination taking `duration` each."""
    return max(sum(1 for other in requests if other.time <= r.time < other.time + duration - 0.05)
               for r in requests)


def test_queue_of_parallelism_one_delivers_one_at_a_time_in_order(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/serial", delay=0.3)
    ids = [client.message.enqueue_json(queue="serial-q", url=f"{recorder.url}/serial", body={"n": i}).message_id
           for i in range(4)]
    deliveries = recorder.wait_for(4, path="/serial", timeout=6)
    assert [d.header("Upstash-Message-Id") for d in deliveries] == ids
    assert max_overlap(deliveries, 0.3) == 1
    queue = client.queue.get("serial-q")
    assert (queue.name, queue.parallelism, queue.paused) == ("serial-q", 1, False)


def test_queue_parallelism_bounds_concurrent_deliveries(client: QStash, recorder: Recorder) -> None:
    client.queue.upsert("pair-q", parallelism=2)
    recorder.respond("/pair", delay=0.4)
    for i in range(6):
        client.message.enqueue(queue="pair-q", url=f"{recorder.url}/pair", body=str(i))
    deliveries = recorder.wait_for(6, path="/pair", timeout=6)
    assert max_overlap(deliveries, 0.4) == 2


def test_a_retrying_message_holds_its_queue_slot(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/head", status=500, times=1)
    first = client.message.enqueue(queue="ordered-q", url=f"{recorder.url}/head", body="1", retry_delay="300").message_id
    second = client.message.enqueue(queue="ordered-q", url=f"{recorder.url}/next", body="2").message_id
    [retry] = recorder.wait_for(2, path="/head", timeout=5)[1:]
    [after] = recorder.wait_for(1, path="/next", timeout=5)
    assert retry.header("Upstash-Message-Id") == first and after.header("Upstash-Message-Id") == second
    assert after.time >= retry.time


def test_paused_queue_holds_messages_until_resumed(client: QStash, recorder: Recorder,
                                                  settle: Callable[..., None]) -> None:
    client.queue.upsert("paused-q", parallelism=1, paused=True)
    client.message.enqueue(queue="paused-q", url=f"{recorder.url}/held", body="h")
    settle()
    assert recorder.received("/held") == []
    assert client.queue.get("paused-q").lag == 1
    client.queue.resume("paused-q")
    recorder.wait_for(1, path="/held", timeout=3)
    client.queue.pause("paused-q")
    assert client.queue.get("paused-q").paused


def test_queue_list_and_delete(client: QStash, recorder: Recorder) -> None:
    client.queue.upsert("doomed-q", parallelism=3)
    assert "doomed-q" in [q.name for q in client.queue.list()]
    client.queue.delete("doomed-q")
    with pytest.raises(QStashError, match="404"):
        client.queue.get("doomed-q")
    with pytest.raises(QStashError, match="400"):
        client.queue.upsert("bad name/", parallelism=1)
