"""Flow control: per-key parallelism and rate in the delivery loop, and the /v2/flowControl API."""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable

import httpx
import pytest
from qstash import QStash
from qstash.message import FlowControl

from tests.support.recorder import RecordedRequest, Recorder


def _key() -> str:
    """A flow-control key of this test alone."""
    return f"fc-{uuid.uuid4().hex[:10]}"


def _most_in_flight(requests: list[RecordedRequest], busy: float) -> int:
    """The most deliveries the destination was handling at once, each busy for `busy` seconds."""
    edges = sorted([(r.time, 1) for r in requests] + [(r.time + busy, -1) for r in requests])
    most = current = 0
    for _, step in edges:  # at equal times an end sorts before a start
        current += step
        most = max(most, current)
    return most


def test_messages_carry_their_flow_control_settings(client: QStash, api: httpx.Client) -> None:
    key = _key()
    one = client.message.publish_json(url="http://fc.test/x", body={}, delay="1h",
                                      flow_control=FlowControl(key=key, parallelism=3, rate=4, period=2))
    settings = client.message.get(one.message_id).flow_control
    assert settings and (settings.key, settings.parallelism, settings.rate, settings.period) == (key, 3, 4, 2)

    rate_only, long_period, parallel_only = client.message.batch_json([
        {"url": "http://fc.test/x", "body": {}, "delay": "1h", "flow_control": FlowControl(key=key, rate=1)},
        {"url": "http://fc.test/x", "body": {}, "delay": "1h",
         "flow_control": FlowControl(key=key, rate=23, period="1h30m3s")},
        {"url": "http://fc.test/x", "body": {}, "delay": "1h", "flow_control": FlowControl(key=key, parallelism=5)},
    ])
    got = [client.message.get(r.message_id).flow_control for r in (rate_only, long_period, parallel_only)]
    assert [(f.parallelism, f.rate, f.period) for f in got if f] == [(None, 1, 1), (None, 23, 5403), (5, None, 1)]
    [created] = api.get("/v2/logs", params={"messageId": one.message_id}).json()["logs"]
    assert (created["flowControlKey"], created["parallelism"], created["rate"]) == (key, 3, 4)

    schedule_id = client.schedule.create_json(destination="http://fc.test/x", cron="0 0 1 1 *", body={},
                                              flow_control=FlowControl(key=key, parallelism=2))
    schedule = client.schedule.get(schedule_id).flow_control
    assert schedule and (schedule.key, schedule.parallelism, schedule.rate, schedule.period) == (key, 2, None, 1)
    client.schedule.delete(schedule_id)
    assert api.delete("/v2/messages", params={"flowControlKey": key}).json() == {"cancelled": 4}


@pytest.mark.parametrize(("value", "named"), [
    ("", "parallelism=N and/or rate=N"),
    ("period=1m", "parallelism=N and/or rate=N"),
    ("parallelism=0", "parallelism"),
    ("rate=-1", "rate"),
    ("rate=2, period=500ms", "period"),
    ("rate=2, period=8d", "period"),
    ("speed=3", "speed=3"),
    ("parallelism=2, parallelism=3", "parallelism=3"),
])
def test_bad_flow_control_is_a_400(api: httpx.Client, value: str, named: str) -> None:
    response = api.post("/v2/publish/http://fc.test/x", content=b"x",
                        headers={"Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": value})
    assert response.status_code == 400
    assert "Upstash-Flow-Control-Value" in response.json()["error"] and named in response.json()["error"]


def test_a_value_without_a_key_is_a_400(api: httpx.Client) -> None:
    response = api.post("/v2/publish/http://fc.test/x", content=b"x",
                        headers={"Upstash-Flow-Control-Value": "parallelism=1"})
    assert response.status_code == 400 and "Upstash-Flow-Control-Key" in response.json()["error"]


def test_never_more_than_parallelism_in_flight(client: QStash, recorder: Recorder) -> None:
    busy, key = 0.3, _key()
    recorder.respond("/slow", delay=busy)
    for i in range(8):
        client.message.publish(url=f"{recorder.url}/slow", body=str(i), flow_control=FlowControl(key=key,
                                                                                                  parallelism=2))
    deliveries = recorder.wait_for(8, path="/slow", timeout=10)
    assert _most_in_flight(deliveries, busy) == 2  # the limit, and all of it
    assert sorted(int(r.text()) for r in deliveries) == list(range(8))


def test_never_more_than_rate_starts_in_any_period(client: QStash, recorder: Recorder) -> None:
    key = _key()
    for i in range(6):
        client.message.publish(url=f"{recorder.url}/rated", body=str(i),
                               flow_control=FlowControl(key=key, rate=2, period=1))
    times = sorted(r.time for r in recorder.wait_for(6, path="/rated", timeout=10))
    # Any two starts `rate` apart are a full period apart (less a few ms of delivery jitter).
    assert all(later - earlier >= 0.95 for earlier, later in zip(times, times[2:]))
    assert times[-1] - times[0] >= 1.95


def test_parallelism_and_rate_together(client: QStash, api: httpx.Client, recorder: Recorder,
                                       until: Callable[..., Any]) -> None:
    busy, key = 0.5, _key()
    recorder.respond("/both", delay=busy)
    for i in range(5):
        client.message.publish(url=f"{recorder.url}/both", body=str(i),
                               flow_control=FlowControl(key=key, parallelism=1, rate=3, period=10))
    deliveries = recorder.wait_for(3, path="/both", timeout=10)
    assert _most_in_flight(deliveries, busy) == 1
    info = until(lambda: (i := client.flow_control.get(key)).parallelism_count == 0 and i,
                 "the third delivery never finished")
    assert (info.parallelism_max, info.rate_max, info.rate_period) == (1, 3, 10)
    assert info.rate_count == 3 and info.wait_list_size == 2  # the rate holds the other two
    assert len(recorder.received("/both")) == 3
    assert api.delete("/v2/messages", params={"flowControlKey": key}).json() == {"cancelled": 2}


def test_pause_holds_a_key_and_resume_releases_it(client: QStash, recorder: Recorder) -> None:
    key = _key()
    client.flow_control.pause(key)  # before its first message
    held = client.message.publish(url=f"{recorder.url}/held", body="h", flow_control=FlowControl(key=key, rate=10))
    client.message.publish(url=f"{recorder.url}/free", body="f")
    recorder.wait_for(1, path="/free")
    info = client.flow_control.get(key)
    assert info.is_paused and info.wait_list_size == 1 and recorder.received("/held") == []

    client.flow_control.resume(key)
    [delivery] = recorder.wait_for(1, path="/held")
    assert delivery.header("Upstash-Message-Id") == held.message_id
    assert client.flow_control.get(key).is_paused is False


def test_messages_waiting_on_a_key_do_not_hold_back_others(client: QStash, api: httpx.Client,
                                                            recorder: Recorder) -> None:
    key = _key()
    client.flow_control.pause(key)
    client.message.batch([{"url": f"{recorder.url}/waiting", "body": str(i), "flow_control": FlowControl(
        key=key, parallelism=1)} for i in range(100)])
    started = time.time()
    client.message.publish(url=f"{recorder.url}/other", body="o")
    [other] = recorder.wait_for(1, path="/other")
    assert other.time - started < 1
    assert client.flow_control.get(key).wait_list_size == 100
    assert api.delete("/v2/messages", params={"flowControlKey": key}).json() == {"cancelled": 100}


def test_pin_overrides_incoming_settings_until_unpinned(client: QStash, api: httpx.Client) -> None:
    key = _key()
    client.message.publish(url="http://fc.test/x", body="x", delay="1h",
                           flow_control=FlowControl(key=key, parallelism=5, rate=10, period="1m"))
    client.flow_control.pin(key, {"parallelism": 3, "rate": 20, "period": 120})
    client.message.publish(url="http://fc.test/x", body="x", delay="1h",
                           flow_control=FlowControl(key=key, parallelism=7, rate=9))
    pinned = client.flow_control.get(key)
    assert (pinned.parallelism_max, pinned.rate_max, pinned.rate_period) == (3, 20, 120)
    assert pinned.is_pinned_parallelism and pinned.is_pinned_rate

    client.flow_control.unpin(key, {"parallelism": True})
    assert client.flow_control.get(key).parallelism_max == 3  # until a message says otherwise
    client.message.publish(url="http://fc.test/x", body="x", delay="1h",
                           flow_control=FlowControl(key=key, parallelism=7, rate=9))
    partly = client.flow_control.get(key)
    assert (partly.parallelism_max, partly.rate_max, partly.is_pinned_parallelism, partly.is_pinned_rate) == (
        7, 20, False, True)
    assert api.delete("/v2/messages", params={"flowControlKey": key}).json() == {"cancelled": 3}


def test_reset_rate_lets_a_waiting_message_start_now(client: QStash, recorder: Recorder,
                                                      until: Callable[..., Any]) -> None:
    key = _key()
    for i in range(2):
        client.message.publish(url=f"{recorder.url}/reset", body=str(i),
                               flow_control=FlowControl(key=key, rate=1, period="1h"))
    recorder.wait_for(1, path="/reset")
    info = until(lambda: (i := client.flow_control.get(key)).wait_list_size == 1 and i,
                 "the second message never waited")
    assert info.rate_count == 1 and len(recorder.received("/reset")) == 1
    client.flow_control.reset_rate(key)
    recorder.wait_for(2, path="/reset")
    assert client.flow_control.get(key).rate_count == 1  # the one started since the reset


def test_flow_control_api_shapes_and_errors(client: QStash, api: httpx.Client) -> None:
    key = _key()
    client.message.publish(url="http://fc.test/x", body="x", delay="1h", flow_control=FlowControl(key=key,
                                                                                                  parallelism=4))
    listed = {k["flowControlKey"]: k for k in api.get("/v2/flowControl").json()}
    assert isinstance(listed[key].pop("ratePeriodStart"), int)
    assert listed[key] == {"flowControlKey": key, "waitListSize": 0, "parallelismMax": 4, "parallelismCount": 0,
                           "rateMax": 0, "rateCount": 0, "ratePeriod": 1, "isPaused": False,
                           "isPinnedParallelism": False, "isPinnedRate": False}
    overall = client.flow_control.get_global_parallelism()
    assert overall.parallelism_max == 32 and overall.parallelism_count >= 0

    for method, path in [("GET", "/v2/flowControl/nope"), ("POST", "/v2/flowControl/nope/resume"),
                         ("POST", "/v2/flowControl/nope/resetRate"), ("POST", "/v2/flowControl/nope/unpin?rate=true")]:
        assert api.request(method, path).status_code == 404, path
    for query, named in [("", "parallelism and/or rate"), ("?period=5", "parallelism and/or rate"),
                         ("?rate=0", "rate"), ("?parallelism=x", "parallelism"), ("?speed=1", "speed")]:
        response = api.post(f"/v2/flowControl/{key}/pin{query}")
        assert response.status_code == 400 and named in response.json()["error"], query
    assert api.post(f"/v2/flowControl/{key}/unpin").status_code == 400
    assert client.flow_control.get(key).is_pinned_rate is False  # the refused requests changed nothing
    api.delete("/v2/messages", params={"flowControlKey": key})


def test_cancel_by_several_flow_control_keys(client: QStash, api: httpx.Client) -> None:
    a, b, c = _key(), _key(), _key()
    for key in (a, b, c):
        client.message.publish(url="http://fc.test/x", body="x", delay="1h", flow_control=FlowControl(key=key,
                                                                                                      parallelism=1))
    assert api.delete("/v2/messages", params={"flowControlKey": [a, b]}).json() == {"cancelled": 2}
    assert api.delete("/v2/messages", params={"flowControlKey": c}).json() == {"cancelled": 1}
