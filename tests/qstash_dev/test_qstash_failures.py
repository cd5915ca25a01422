"""When delivery fails: the DLQ, failure callbacks, 489, callbacks, and the event log."""

from __future__ import annotations

import json
import time
from typing import Callable

import httpx
import pytest
from qstash import QStash, Receiver
from qstash.errors import QStashError
from qstash.log import LogState

from tests.support.recorder import RecordedRequest, Recorder

Decode = Callable[[RecordedRequest], dict]


def test_exhausted_retries_land_in_the_dlq_and_call_the_failure_callback(
        client: QStash, receiver: Receiver, recorder: Recorder, callback_json: Decode) -> None:
    recorder.respond("/broken", status=500, body="boom", headers={"X-Reason": "db down"})
    published = client.message.publish_json(
        url=f"{recorder.url}/broken", body={"step": 3}, retries=1, retry_delay="10",
        headers={"X-Tenant": "acme"}, failure_callback=f"{recorder.url}/failed",
        failure_callback_headers={"X-Cb": "1"})

    [failure] = recorder.wait_for(1, path="/failed", timeout=5)
    body = callback_json(failure)
    assert body["status"] == 500
    assert body["body"] == "boom"
    assert body["header"]["X-Reason"] == ["db down"]
    assert (body["retried"], body["maxRetries"]) == (1, 1)
    assert body["sourceMessageId"] == published.message_id
    assert body["url"] == f"{recorder.url}/broken"
    assert body["method"] == "POST"
    assert body["sourceHeader"]["X-Tenant"] == ["acme"]
    assert json.loads(body["sourceBody"]) == {"step": 3}
    assert body["createdAt"].isdigit() and body["notBefore"].isdigit()
    # The failure callback is itself a signed message to its own URL, with its forwarded header.
    receiver.verify(signature=failure.header("Upstash-Signature"), body=failure.text(), url=f"{recorder.url}/failed")
    assert failure.header("X-Cb") == "1"
    assert failure.header("Upstash-Message-Id") != published.message_id

    entry = client.dlq.get(body["dlqId"])
    assert entry.message_id == published.message_id
    assert (entry.response_status, entry.response_body) == (500, "boom")
    assert json.loads(entry.body) == {"step": 3}
    assert entry.headers["X-Tenant"] == ["acme"]
    assert entry.failure_callback == f"{recorder.url}/failed"
    assert len(recorder.received("/broken")) == 2


def test_489_with_non_retryable_header_goes_to_the_dlq_at_once(
        client: QStash, recorder: Recorder, callback_json: Decode) -> None:
    recorder.respond("/reject", status=489, headers={"Upstash-NonRetryable-Error": "true"})
    client.message.publish(url=f"{recorder.url}/reject", body="bad", retries=3,
                           failure_callback=f"{recorder.url}/failed")
    [failure] = recorder.wait_for(1, path="/failed", timeout=5)
    assert callback_json(failure)["status"] == 489 and callback_json(failure)["retried"] == 0
    assert len(recorder.received("/reject")) == 1


def test_489_without_the_header_is_retried(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/plain489", status=489, times=1)
    client.message.publish(url=f"{recorder.url}/plain489", body="x", retries=1, retry_delay="10")
    assert len(recorder.wait_for(2, path="/plain489")) == 2


def test_callback_is_called_after_each_attempt(
        client: QStash, receiver: Receiver, recorder: Recorder, callback_json: Decode) -> None:
    recorder.respond("/work", status=503, body="later", times=1)
    recorder.respond("/work", status=200, body="done")
    published = client.message.publish(
        url=f"{recorder.url}/work", body="job", retries=2, retry_delay="10",
        callback=f"{recorder.url}/callback", callback_headers={"X-From": "cb"})

    first, second = recorder.wait_for(2, path="/callback", timeout=5)
    bodies = sorted((callback_json(r) for r in (first, second)), key=lambda b: b["retried"])
    assert [(b["status"], b["body"], b["retried"]) for b in bodies] == [(503, "later", 0), (200, "done", 1)]
    assert all(b["sourceMessageId"] == published.message_id and b["sourceBody"] == "job" for b in bodies)
    assert first.header("X-From") == "cb"
    receiver.verify(signature=first.header("Upstash-Signature"), body=first.text(), url=f"{recorder.url}/callback")


def test_callback_options_configure_the_callback_message(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/cb-down", status=500, times=1)
    client.message.publish(url=f"{recorder.url}/ok", body="x", callback=f"{recorder.url}/cb-down",
                           callback_headers={"Upstash-Callback-Retries": "1", "Upstash-Callback-Retry-Delay": "10",
                                             "Upstash-Callback-Method": "PUT"})
    attempts = recorder.wait_for(2, path="/cb-down", timeout=5)
    assert [a.method for a in attempts] == ["PUT", "PUT"]
    assert [a.header("Upstash-Retried") for a in attempts] == ["0", "1"]


def test_dlq_list_delete_and_delete_many(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/dead", status=500)
    ids = [client.message.publish(url=f"{recorder.url}/dead", body=str(i), retries=0).message_id for i in range(3)]
    entries = _wait_for_dlq(client, ids)
    assert {e.message_id for e in entries} == set(ids)

    first_page = client.dlq.list(count=2, filter={"url": f"{recorder.url}/dead"})
    assert len(first_page.messages) == 2 and first_page.cursor
    rest = client.dlq.list(cursor=first_page.cursor, filter={"url": f"{recorder.url}/dead"})
    assert {m.message_id for m in first_page.messages + rest.messages} == set(ids) and rest.cursor is None

    client.dlq.delete(entries[0].dlq_id)
    with pytest.raises(QStashError, match="404"):
        client.dlq.get(entries[0].dlq_id)
    assert client.dlq.delete_many([e.dlq_id for e in entries]) == 2
    assert client.dlq.list(filter={"url": f"{recorder.url}/dead"}).messages == []


def test_dlq_retry_republishes_with_overrides(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    recorder.respond("/again", status=500, times=2)
    ids = [client.message.publish(url=f"{recorder.url}/again", body=f"m{i}", retries=0,
                                  headers={"X-Keep": "yes"}).message_id for i in range(2)]
    entries = _wait_for_dlq(client, ids)

    single = api.post(f"/v2/dlq/retry/{entries[0].dlq_id}", headers={"Upstash-Retries": "0"})
    assert single.status_code == 200
    new_id = single.json()["messageId"]
    assert new_id not in ids
    bulk = api.post("/v2/dlq/retry", params={"dlqIds": [entries[1].dlq_id]})
    assert bulk.status_code == 200 and len(bulk.json()["responses"]) == 1

    redelivered = recorder.wait_for(4, path="/again", timeout=5)[2:]
    assert {r.text() for r in redelivered} == {"m0", "m1"}
    assert all(r.header("X-Keep") == "yes" for r in redelivered)
    assert new_id in {r.header("Upstash-Message-Id") for r in redelivered}
    assert client.dlq.list(filter={"url": f"{recorder.url}/again"}).messages == []
    assert api.post(f"/v2/dlq/retry/{entries[0].dlq_id}").status_code == 404


def _wait_for_dlq(client: QStash, message_ids: list[str], timeout: float = 5.0) -> list:
    """The DLQ entries of these messages, once all arrived."""
    deadline = time.monotonic() + timeout
    while True:
        entries = [m for m in client.dlq.list().messages if m.message_id in message_ids]
        if len(entries) == len(message_ids) or time.monotonic() > deadline:
            assert len(entries) == len(message_ids), "messages did not reach the DLQ in time"
            return sorted(entries, key=lambda e: message_ids.index(e.message_id))
        time.sleep(0.05)


def test_events_trace_a_message_through_its_states(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/traced", status=500, times=1)
    message_id = client.message.publish(url=f"{recorder.url}/traced", body="t", retries=1, retry_delay="10",
                                        label="trace-me").message_id
    recorder.wait_for(2, path="/traced")
    deadline = time.monotonic() + 5
    while (logs := client.log.list(filter={"message_id": message_id}).logs)[0].state != LogState.DELIVERED:
        assert time.monotonic() < deadline, "the delivery was not recorded"
        time.sleep(0.05)
    states = [log.state for log in reversed(logs)]  # newest first on the wire
    assert states == [LogState.CREATED, LogState.ACTIVE, LogState.ERROR, LogState.RETRY,
                      LogState.ACTIVE, LogState.DELIVERED]
    error = next(log for log in logs if log.state == LogState.ERROR)
    assert error.response_status == 500 and error.url == f"{recorder.url}/traced"
    assert all(log.label == "trace-me" for log in logs)

    in_progress = client.log.list(filter={"message_id": message_id, "state": LogState.IN_PROGRESS}).logs
    assert {log.state for log in in_progress} == {LogState.ACTIVE, LogState.ERROR, LogState.RETRY}
    page = client.log.list(count=2, filter={"message_id": message_id})
    assert len(page.logs) == 2 and page.cursor
    older = client.log.list(cursor=page.cursor, filter={"message_id": message_id})
    assert [log.state for log in page.logs + older.logs] == [log.state for log in logs]


def test_cancelled_message_logs_cancel_states_and_logs_alias(client: QStash, api: httpx.Client,
                                                             recorder: Recorder) -> None:
    message_id = client.message.publish(url=f"{recorder.url}/never", body="x", delay="1h").message_id
    client.message.cancel(message_id)
    states = [e["state"] for e in api.get("/v2/logs", params={"messageId": message_id}).json()["logs"]]
    assert states == ["CANCELED", "CANCEL_REQUESTED", "CREATED"]
