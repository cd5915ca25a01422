"""Publishing through the real SDK: delivery shape, delay, not-before, validation, auth."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import httpx
import pytest
from qstash import QStash
from qstash.errors import QStashError

from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import Recorder


def test_publish_delivers_body_and_headers_unchanged(client: QStash, recorder: Recorder) -> None:
    url = f"{recorder.url}/api/x?a=1&b=two"
    result = client.message.publish_json(url=url, body={"hello": "world"}, headers={"X-Custom": "yes"})

    [delivery] = recorder.wait_for(1)
    assert delivery.method == "POST"
    assert delivery.path == "/api/x?a=1&b=two"  # the query string survives the path-encoded destination
    assert json.loads(delivery.body) == {"hello": "world"}
    assert delivery.header("Content-Type") == "application/json"
    assert delivery.header("X-Custom") == "yes"
    assert delivery.header("User-Agent") == "Upstash-QStash"
    assert delivery.header("Upstash-Message-Id") == result.message_id
    assert result.message_id.startswith("msg_")
    assert delivery.header("Upstash-Retried") == "0"
    assert delivery.header("Upstash-Caller-Ip") == "127.0.0.1"
    assert delivery.header("Upstash-Signature")
    assert delivery.header("Upstash-Schedule-Id") is None


def test_publish_uses_the_given_method_and_raw_body(client: QStash, recorder: Recorder) -> None:
    client.message.publish(url=f"{recorder.url}/put", body=b"raw \xe2\x9c\x93", method="PUT",
                           content_type="text/plain")
    [delivery] = recorder.wait_for(1)
    assert (delivery.method, delivery.body, delivery.header("Content-Type")) == ("PUT", "raw ✓".encode(), "text/plain")


def test_publish_answers_only_with_a_stored_message(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/later", delay=1.0)
    message_id = client.message.publish(url=f"{recorder.url}/later", body="x", delay="30s").message_id
    message = client.message.get(message_id)
    assert message.message_id == message_id
    assert message.url == f"{recorder.url}/later"
    assert message.body == "x"
    assert message.method == "POST"
    assert message.max_retries == 3
    assert message.not_before - message.created_at == pytest.approx(30_000, abs=50)
    client.message.cancel(message_id)


def test_delay_holds_delivery_back(client: QStash, recorder: Recorder) -> None:
    published = time.time()
    client.message.publish(url=f"{recorder.url}/delayed", body="d", delay="1s")
    [delivery] = recorder.wait_for(1, timeout=5)
    assert 1.0 <= delivery.time - published < 2.5  # not a moment before the delay


def test_not_before_holds_delivery_until_that_unix_time(client: QStash, recorder: Recorder) -> None:
    not_before = int(time.time()) + 2
    client.message.publish(url=f"{recorder.url}/nb", body="n", not_before=not_before)
    [delivery] = recorder.wait_for(1, timeout=6)
    assert delivery.time >= not_before


def test_compound_delay_is_accepted(client: QStash, recorder: Recorder) -> None:
    message_id = client.message.publish(url=f"{recorder.url}/far", body="f", delay="1d10h30m").message_id
    message = client.message.get(message_id)
    assert message.not_before - message.created_at == pytest.approx((24 + 10.5) * 3600 * 1000, abs=50)
    client.message.cancel(message_id)


@pytest.mark.parametrize(("path", "headers", "message"), [
    ("/v2/publish/not-a-url", {}, "destination"),
    ("/v2/publish/ftp://example.com/x", {}, "destination"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Delay": "soon"}, "Upstash-Delay"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Delay": "-5s"}, "Upstash-Delay"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Retries": "many"}, "Upstash-Retries"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Retries": "-1"}, "Upstash-Retries"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Not-Before": "tomorrow"}, "Upstash-Not-Before"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Method": "FETCH"}, "Upstash-Method"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Retry-Delay": "__import__('os')"}, "Upstash-Retry-Delay"),
    ("/v2/publish/http://127.0.0.1:9/x", {"Upstash-Callback": "nope"}, "Upstash-Callback"),
])
def test_invalid_publish_is_a_400_naming_the_problem(api: httpx.Client, path: str,
                                                      headers: dict[str, str], message: str) -> None:
    response = api.post(path, headers=headers, content=b"x")
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic abc"])
def test_missing_or_wrong_token_is_a_401_json_error(anonymous: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [("POST", "/v2/publish/http://127.0.0.1:9/x"), ("GET", "/v2/keys"),
                         ("POST", "/_dev/schedules/scd_x/fire")]:
        response = anonymous.request(method, path, headers=headers)
        assert response.status_code == 401
        assert "token" in response.json()["error"]


def test_sdk_with_a_wrong_token_raises(qstash: QStashDevProcess) -> None:
    with pytest.raises(QStashError, match="401"):
        QStash("wrong", base_url=qstash.url, retry=False).message.publish(url="http://127.0.0.1:9/x", body="x")


def test_keys_endpoint_returns_the_signing_keys(client: QStash, qstash: QStashDevProcess) -> None:
    keys = client.signing_key.get()
    assert (keys.current, keys.next) == (qstash.current_key, qstash.next_key)


def test_unknown_endpoint_is_a_404(api: httpx.Client) -> None:
    response = api.get("/v2/nothing")
    assert response.status_code == 404 and "no such endpoint" in response.json()["error"]


def test_batch_publishes_each_message(client: QStash, recorder: Recorder) -> None:
    results = client.message.batch_json([
        {"url": f"{recorder.url}/b1", "body": {"n": 1}, "headers": {"X-N": "1"}},
        {"url": f"{recorder.url}/b2", "body": {"n": 2}, "delay": "1s"},
        {"url": f"{recorder.url}/b3", "body": {"n": 3}, "queue": "batch-queue"},
    ])
    assert len(results) == 3 and len({r.message_id for r in results}) == 3
    deliveries = {r.route: r for r in recorder.wait_for(3, timeout=5)}
    assert json.loads(deliveries["/b1"].body) == {"n": 1} and deliveries["/b1"].header("X-N") == "1"
    assert deliveries["/b2"].header("Upstash-Message-Id") == results[1].message_id
    assert client.queue.get("batch-queue").name == "batch-queue"


def test_batch_with_an_invalid_message_stores_nothing(api: httpx.Client, recorder: Recorder,
                                                      settle: Callable[..., None]) -> None:
    response = api.post("/v2/batch", json=[{"destination": f"{recorder.url}/ok", "body": "a"},
                                          {"destination": f"{recorder.url}/bad", "headers": {"Upstash-Delay": "x"}}])
    assert response.status_code == 400 and "batch[1]" in response.json()["error"]
    settle()
    assert recorder.received("/ok") == [] and recorder.received("/bad") == []


def test_get_cancel_and_cancel_many(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    ids = [client.message.publish(url=f"{recorder.url}/c{i}", body=str(i), delay="1h").message_id for i in range(4)]
    client.message.cancel(ids[0])
    assert api.get(f"/v2/messages/{ids[0]}").json()["state"] == "CANCELED"  # readable in the retention window
    with pytest.raises(QStashError, match="404"):
        client.message.cancel(ids[0])
    assert client.message.cancel_many(ids[1:3]) == 2
    assert client.message.get(ids[3]).message_id == ids[3]
    assert client.message.cancel_all() >= 1
    assert [api.get(f"/v2/messages/{i}").json()["state"] for i in ids] == ["CANCELED"] * 4
    with pytest.raises(QStashError, match="404"):
        client.message.cancel(ids[3])


def test_cancelled_message_is_never_delivered(client: QStash, recorder: Recorder,
                                             settle: Callable[..., None]) -> None:
    message_id = client.message.publish(url=f"{recorder.url}/cancelled", body="x", delay="1s").message_id
    client.message.cancel(message_id)
    settle(delay="1s")  # due just after the cancelled one would have been
    assert recorder.received("/cancelled") == []


def test_hundred_concurrent_publishes_are_each_delivered_exactly_once(client: QStash, recorder: Recorder,
                                                                      settle: Callable[..., None]) -> None:
    def publish(i: int) -> str:
        # One SDK client shared by 20 threads (its httpx pool is thread-safe), as an app would.
        return client.message.publish_json(url=f"{recorder.url}/many", body={"i": i}).message_id

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(publish, range(100)))
    assert len(set(ids)) == 100
    recorder.wait_for(100, path="/many", timeout=20)
    settle()  # anything extra would have come before this
    deliveries = recorder.received("/many")
    assert sorted(r.header("Upstash-Message-Id") for r in deliveries) == sorted(ids)
    assert sorted(json.loads(r.body)["i"] for r in deliveries) == list(range(100))


def test_a_slow_destination_does_not_hold_up_others(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/slow", delay=3)
    client.message.publish(url=f"{recorder.url}/slow", body="s")
    recorder.wait_for(1, path="/slow")  # in flight, for 3 s
    started = time.time()
    client.message.publish(url=f"{recorder.url}/fast", body="f")
    [fast] = recorder.wait_for(1, path="/fast", timeout=2)
    assert fast.time - started < 1


def test_per_attempt_timeout_fails_the_attempt(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/hang", delay=2, times=1)
    client.message.publish(url=f"{recorder.url}/hang", body="h", timeout="1s", retries=1,
                           retry_delay="100")
    first, second = recorder.wait_for(2, path="/hang", timeout=6)
    assert second.header("Upstash-Retried") == "1"
    assert 1.0 <= second.time - first.time < 2.5  # gave up after 1 s, retried 100 ms later


def test_chunked_request_bodies_are_accepted(api: httpx.Client, recorder: Recorder) -> None:
    def chunks():
        yield b'{"part": '
        yield b'"one"}'

    response = api.post(f"/v2/publish/{recorder.url}/chunked", content=chunks(),
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    [delivery] = recorder.wait_for(1, path="/chunked")
    assert delivery.body == b'{"part": "one"}'


def test_oversized_body_is_a_413(api: httpx.Client) -> None:
    response = api.post("/v2/publish/http://127.0.0.1:9/x", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413 and "larger" in response.json()["error"]
