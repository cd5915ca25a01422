"""JSON shapes as QStash returns them: labels, canonical header names, no empty body."""

from __future__ import annotations

import uuid
from typing import Any, Callable

import httpx
from qstash import QStash

from tests.support.recorder import Recorder


def _stamp() -> str:
    """A unique token for this test's labels."""
    return uuid.uuid4().hex[:10]


def test_several_labels_come_back_as_label_and_labels(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    message_id = client.message.publish(url=f"http://{s}.test/x", body="x", delay="1h",
                                        label=f"a-{s}, b-{s}").message_id
    raw = api.get(f"/v2/messages/{message_id}").json()
    assert (raw["label"], raw["labels"]) == (f"a-{s}", [f"a-{s}", f"b-{s}"])
    assert client.message.get(message_id).label == f"a-{s}"
    [created] = api.get("/v2/logs", params={"messageId": message_id}).json()["logs"]
    assert (created["label"], created["labels"]) == (f"a-{s}", [f"a-{s}", f"b-{s}"])
    client.message.cancel(message_id)


def test_label_filters_match_a_message_by_any_of_its_labels(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    ab, bc, c = (client.message.publish(url=f"http://{s}.test/x", body="x", delay="1h", label=labels).message_id
                 for labels in (f"a-{s},b-{s}", f"b-{s},c-{s}", f"c-{s}"))
    logged = {e["messageId"] for e in api.get("/v2/logs", params={"label": [f"a-{s}", f"b-{s}"]}).json()["logs"]}
    assert logged == {ab, bc}
    assert api.delete("/v2/messages", params={"label": f"a-{s}"}).json() == {"cancelled": 1}
    cancelled = api.get("/v2/logs", params={"messageIds": [ab, bc, c], "state": "CANCELED"}).json()["logs"]
    assert [e["messageId"] for e in cancelled] == [ab]
    assert api.delete("/v2/messages", params={"label": f"c-{s}"}).json() == {"cancelled": 2}


def test_dlq_entries_carry_all_labels(client: QStash, api: httpx.Client, recorder: Recorder,
                                      until: Callable[..., Any]) -> None:
    s = _stamp()
    recorder.respond(f"/dead-{s}", status=500)
    message_id = client.message.publish(url=f"{recorder.url}/dead-{s}", body="x", retries=0,
                                        label=f"one-{s},two-{s}").message_id
    [entry] = until(lambda: api.get("/v2/dlq", params={"label": f"two-{s}"}).json()["messages"],
                    "the message did not reach the DLQ")
    assert entry["messageId"] == message_id
    assert (entry["label"], entry["labels"]) == (f"one-{s}", [f"one-{s}", f"two-{s}"])


def test_schedules_carry_all_labels(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    schedule_id = client.schedule.create(destination=f"http://{s}.test/x", cron="0 0 1 1 *", label=f"x-{s},y-{s}")
    raw = api.get(f"/v2/schedules/{schedule_id}").json()
    assert (raw["label"], raw["labels"]) == (f"x-{s}", [f"x-{s}", f"y-{s}"])
    client.schedule.delete(schedule_id)


def test_header_names_come_back_canonical(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    message_id = client.message.publish(url=f"{recorder.url}/h", body="x", delay="1h",
                                        headers={"test-header": "a", "x-API-key": "b"}).message_id
    header = client.message.get(message_id).headers
    assert header is not None and header["Test-Header"] == ["a"] and header["X-Api-Key"] == ["b"]
    client.message.cancel(message_id)

    # The JS SDK sends every header name in lower case (fetch's Headers object).
    raw = api.post(f"/v2/schedules/{recorder.url}/h", content=b"x",
                   headers={"upstash-cron": "0 0 1 1 *", "upstash-forward-test-header": "c",
                            "content-type": "text/plain"})
    schedule = api.get(f"/v2/schedules/{raw.json()['scheduleId']}").json()
    assert schedule["header"] == {"Test-Header": ["c"], "Content-Type": ["text/plain"]}
    api.delete(f"/v2/schedules/{raw.json()['scheduleId']}")


def test_without_a_body_there_is_no_body_field(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    message_id = client.message.publish(url=f"http://{s}.test/x", delay="1h").message_id
    assert "body" not in api.get(f"/v2/messages/{message_id}").json()
    assert client.message.get(message_id).body is None
    [created] = api.get("/v2/logs", params={"messageId": message_id}).json()["logs"]
    assert "body" not in created
    client.message.cancel(message_id)

    schedule_id = client.schedule.create(destination=f"http://{s}.test/x", cron="0 0 1 1 *")
    assert "body" not in api.get(f"/v2/schedules/{schedule_id}").json()
    assert client.schedule.get(schedule_id).body is None
    client.schedule.delete(schedule_id)
