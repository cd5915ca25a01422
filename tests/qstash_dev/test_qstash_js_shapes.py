"""Requests shaped as the JS SDK (@upstash/qstash 2.x) sends them: ids and filters in the query."""

from __future__ import annotations

import time

import httpx
from qstash import QStash

from tests.support.recorder import Recorder


def test_cancel_one_answers_json(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    message_id = client.message.publish(url=f"{recorder.url}/x", body="x", delay="1h").message_id
    response = api.delete(f"/v2/messages/{message_id}")
    assert response.status_code == 200 and response.json() == {"cancelled": 1}


def test_cancel_by_query_ids_filters_and_all(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    ids = [client.message.publish(url=f"{recorder.url}/q{i}", body="x", delay="1h", label=f"l{i % 2}").message_id
           for i in range(5)]
    assert api.delete("/v2/messages", params={"messageIds": ids[:2]}).json() == {"cancelled": 2}
    assert api.delete("/v2/messages", params={"label": "l0", "count": 100}).json() == {"cancelled": 2}  # 2 and 4
    assert api.delete("/v2/messages", params={"count": 100}).json()["cancelled"] >= 1  # {all: true}
    assert all(api.get(f"/v2/messages/{i}").json()["state"] == "CANCELED" for i in ids)


def test_dlq_by_query_ids_list_retry_and_delete_all(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    recorder.respond("/js-dead", status=500)
    ids = [client.message.publish(url=f"{recorder.url}/js-dead", body=str(i), retries=0).message_id for i in range(3)]
    deadline = time.monotonic() + 5
    while len(entries := [m for m in client.dlq.list().messages if m.message_id in ids]) < 3:
        assert time.monotonic() < deadline, "messages did not reach the DLQ"
        time.sleep(0.05)
    dlq_ids = [e.dlq_id for e in entries]

    listed = api.get("/v2/dlq", params={"dlqIds": dlq_ids[:2]}).json()["messages"]
    assert sorted(m["dlqId"] for m in listed) == sorted(dlq_ids[:2])
    retried = api.post("/v2/dlq/retry", params={"dlqIds": dlq_ids[:1]}).json()
    assert len(retried["responses"]) == 1
    assert api.delete("/v2/dlq", params={"dlqIds": dlq_ids[1:2]}).json() == {"deleted": 1}
    assert api.delete("/v2/dlq", params={"count": 100}).json()["deleted"] >= 1  # {all: true}
    assert not {m.dlq_id for m in client.dlq.list().messages} & set(dlq_ids)
