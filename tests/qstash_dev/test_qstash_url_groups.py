"""URL groups (topics): endpoints, and publishing that fans out to each of them."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

import httpx
import pytest
from qstash import QStash, Receiver
from qstash.errors import QStashError

from tests.support.recorder import RecordedRequest, Recorder


def _group(client: QStash, recorder: Recorder, *paths: str) -> str:
    """A new group whose endpoints are recorder paths, named after them."""
    name = f"group-{uuid.uuid4().hex[:8]}"
    client.url_group.upsert_endpoints(url_group=name, endpoints=[
        {"url": f"{recorder.url}{path}", "name": path.strip("/")} for path in paths])
    return name


def test_endpoints_can_be_added_renamed_listed_and_removed(client: QStash, recorder: Recorder) -> None:
    name = _group(client, recorder, "/a", "/b")
    client.url_group.upsert_endpoints(url_group=name, endpoints=[{"url": f"{recorder.url}/a", "name": "renamed"},
                                                                 {"url": f"{recorder.url}/c"}])
    group = client.url_group.get(name)
    assert [(e.url, e.name) for e in group.endpoints] == [
        (f"{recorder.url}/a", "renamed"), (f"{recorder.url}/b", "b"), (f"{recorder.url}/c", None)]
    assert group.created_at <= group.updated_at
    assert name in {g.name for g in client.url_group.list()}

    client.url_group.remove_endpoints(url_group=name, endpoints=[{"url": f"{recorder.url}/c"}, {"name": "b"}])
    assert [e.url for e in client.url_group.get(name).endpoints] == [f"{recorder.url}/a"]
    client.url_group.remove_endpoints(url_group=name, endpoints=[{"name": "renamed"}])
    with pytest.raises(QStashError, match="404"):
        client.url_group.get(name)  # removing the last endpoint deletes the group
    client.url_group.delete(name)  # deleting what is gone is fine, as QStash's own tests expect


@pytest.mark.parametrize(("method", "path", "body", "named"), [
    ("POST", "/v2/topics/g/endpoints", {"endpoints": [{"url": "ftp://x"}]}, "endpoints[0].url"),
    ("POST", "/v2/topics/g/endpoints", {"endpoints": []}, "endpoints"),
    ("POST", "/v2/topics/g/endpoints", {"endpoints": [{"url": "http://x.test", "name": "a b"}]}, "name"),
    ("POST", "/v2/topics/g%20h/endpoints", {"endpoints": [{"url": "http://x.test"}]}, "URL group name"),
    ("DELETE", "/v2/topics/g/endpoints", {"endpoints": [{}]}, "url or the name"),
])
def test_bad_endpoint_requests_are_400s(api: httpx.Client, method: str, path: str, body: dict, named: str) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == 400 and named in response.json()["error"]
    assert api.get("/v2/topics/g").status_code == 404  # nothing was created


def test_an_endpoint_name_is_unique_within_its_group(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    name = _group(client, recorder, "/one")
    response = api.post(f"/v2/topics/{name}/endpoints", json={"endpoints": [{"url": f"{recorder.url}/two",
                                                                               "name": "one"}]})
    assert response.status_code == 400 and "already used" in response.json()["error"]
    assert [e.url for e in client.url_group.get(name).endpoints] == [f"{recorder.url}/one"]
    assert api.request("DELETE", "/v2/topics/nope/endpoints", json={"endpoints": [{"name": "x"}]}).status_code == 404


def test_publishing_to_a_group_makes_a_message_per_endpoint(
        client: QStash, api: httpx.Client, receiver: Receiver, recorder: Recorder) -> None:
    name = _group(client, recorder, "/e1", "/e2")
    results = client.message.publish_json(url_group=name, body={"n": 1}, headers={"X-Tenant": "t"})
    assert isinstance(results, list)
    assert [r.url for r in results] == [f"{recorder.url}/e1", f"{recorder.url}/e2"]
    assert len({r.message_id for r in results}) == 2

    deliveries = {r.route: r for r in recorder.wait_for(2)}
    for result in results:
        delivery = deliveries[result.url.removeprefix(recorder.url)]
        assert delivery.header("Upstash-Message-Id") == result.message_id
        assert json.loads(delivery.body) == {"n": 1} and delivery.header("X-Tenant") == "t"
        receiver.verify(signature=delivery.header("Upstash-Signature"), body=delivery.text(), url=result.url)
        message = client.message.get(result.message_id)
        assert (message.url_group, message.endpoint) == (name, result.url.rsplit("/", 1)[1])
    logs = api.get("/v2/logs", params={"topicName": name}).json()["logs"]
    assert {e["messageId"] for e in logs} == {r.message_id for r in results}
    assert all(e["topicName"] == name for e in logs)


def test_each_endpoint_retries_and_fails_on_its_own(client: QStash, api: httpx.Client, recorder: Recorder,
                                                    callback_json: Callable[[RecordedRequest], dict],
                                                    until: Callable[..., Any]) -> None:
    recorder.respond("/flaky", status=500, times=1)
    recorder.respond("/dead", status=500)
    name = _group(client, recorder, "/flaky", "/dead")
    flaky, dead = client.message.publish(url_group=name, body="x", retries=1, retry_delay="10",
                                         failure_callback=f"{recorder.url}/failed")
    assert len(recorder.wait_for(2, path="/flaky")) == 2 and len(recorder.wait_for(2, path="/dead")) == 2

    [failure] = recorder.wait_for(1, path="/failed")
    assert callback_json(failure)["sourceMessageId"] == dead.message_id
    entries = until(lambda: client.dlq.list(filter={"url_group": name}).messages,
                    "the failed endpoint's message did not reach the DLQ")
    assert [(e.message_id, e.url_group, e.endpoint) for e in entries] == [(dead.message_id, name, "dead")]

    retried = api.post(f"/v2/dlq/retry/{entries[0].dlq_id}", headers={"Upstash-Retries": "0"}).json()["messageId"]
    recorder.wait_for(3, path="/dead")
    assert len(recorder.received("/flaky")) == 2  # the retry went to the failed endpoint only
    assert client.message.get(retried).url_group == name


def test_deduplication_is_per_endpoint(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    name = _group(client, recorder, "/d1", "/d2")
    first = api.post(f"/v2/publish/{name}", content=b"x", headers={"Upstash-Deduplication-Id": f"dd-{name}"})
    again = api.post(f"/v2/publish/{name}", content=b"x", headers={"Upstash-Deduplication-Id": f"dd-{name}"})
    assert first.status_code == 201 and again.status_code == 202
    assert [m["messageId"] for m in again.json()] == [m["messageId"] for m in first.json()]
    assert all(m["deduplicated"] for m in again.json())
    assert len(recorder.wait_for(2)) == 2


def test_enqueue_batch_and_schedules_fan_out_too(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    name = _group(client, recorder, "/f1", "/f2")
    enqueued = client.message.enqueue(queue=f"q-{name}", url_group=name, body="q")
    assert isinstance(enqueued, list) and len(enqueued) == 2
    assert {client.message.get(e.message_id).queue for e in enqueued} == {f"q-{name}"}

    [single, grouped] = client.message.batch([{"url": f"{recorder.url}/solo", "body": "s"},
                                              {"url_group": name, "body": "b"}])
    assert isinstance(grouped, list) and [g.url for g in grouped] == [f"{recorder.url}/f1", f"{recorder.url}/f2"]

    schedule_id = client.schedule.create(destination=name, cron="0 0 1 1 *", body="tick")
    fired = api.post(f"/_dev/schedules/{schedule_id}/fire").json()["messageIds"]
    assert len(fired) == 2
    recorder.wait_for(3, path="/f1")
    recorder.wait_for(3, path="/f2")  # enqueued, batched and ticked, each
    ticks = [r for r in recorder.received() if r.header("Upstash-Schedule-Id") == schedule_id]
    assert sorted(r.route for r in ticks) == ["/f1", "/f2"]
    schedule = client.schedule.get(schedule_id)
    assert schedule.destination == name and set(schedule.last_schedule_states or {}) == set(fired)
    client.schedule.delete(schedule_id)
    [solo] = recorder.wait_for(1, path="/solo")
    assert solo.header("Upstash-Message-Id") == single.message_id


def test_an_unknown_group_is_refused_and_nothing_is_stored(client: QStash, api: httpx.Client) -> None:
    response = api.post("/v2/publish/no-such-group", content=b"x")
    assert response.status_code == 400 and "no-such-group" in response.json()["error"]
    assert api.get("/v2/logs", params={"topicName": "no-such-group"}).json()["logs"] == []
    batch = api.post("/v2/batch", json=[{"destination": "http://ok.test/x", "body": "a"},
                                        {"destination": "no-such-group", "body": "b"}])
    assert batch.status_code == 400 and "batch[1]" in batch.json()["error"]
    assert api.get("/v2/logs", params={"url": "http://ok.test/x"}).json()["logs"] == []
    schedule = api.post("/v2/schedules/no-such-group", headers={"Upstash-Cron": "* * * * *"})
    assert schedule.status_code == 400 and "no-such-group" in schedule.json()["error"]


def test_cancel_by_group_cancels_only_its_messages(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    name = _group(client, recorder, "/g1", "/g2")
    client.message.publish(url_group=name, body="x", delay="1h")
    other = client.message.publish(url=f"{recorder.url}/g1", body="x", delay="1h").message_id
    assert api.delete("/v2/messages", params={"topicName": name}).json() == {"cancelled": 2}
    assert api.get(f"/v2/messages/{other}").json()["state"] == "CREATED"
    client.message.cancel(other)
