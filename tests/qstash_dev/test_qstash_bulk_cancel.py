"""DELETE /v2/messages by filter: every documented filter narrows, nothing unknown widens.

A filter the server ignored used to cancel every pending message. Each test publishes
messages held back by a one-hour delay to made-up hosts of its own, so a filter that
widened would show up as cancelled messages the test did not ask for.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from qstash import QStash


def _stamp() -> str:
    """A unique token, so tests sharing the server never touch each other's messages."""
    return uuid.uuid4().hex[:10]


def _publish(client: QStash, url: str, **options: object) -> str:
    """A message that stays pending for the whole test."""
    return client.message.publish(url=url, body="x", delay="1h", **options).message_id


def _cancelled(api: httpx.Client, ids: list[str]) -> set[str]:
    """Which of these messages the log shows as cancelled."""
    events = api.get("/v2/logs", params={"messageIds": ids, "state": "CANCELED"}).json()["logs"]
    return {e["messageId"] for e in events}


def _cancel(api: httpx.Client, **params: object) -> httpx.Response:
    """DELETE /v2/messages with query parameters, as the JS SDK sends them."""
    return api.delete("/v2/messages", params=params)


def test_path_filter_cancels_only_that_path(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    a = [_publish(client, f"http://{s}.test/a-{s}", label=s) for _ in range(2)]
    b = _publish(client, f"http://{s}.test/b-{s}", label=s)

    assert _cancel(api, path=f"/a-{s}").json() == {"cancelled": 2}
    assert _cancelled(api, a + [b]) == set(a)
    assert _cancel(api, label=s).json() == {"cancelled": 1}


def test_host_filter_cancels_only_that_host(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    on_a = _publish(client, f"http://a-{s}.test/x", label=s)
    on_a_port = _publish(client, f"http://a-{s}.test:8443/x", label=s)
    on_b = _publish(client, f"http://b-{s}.test/x", label=s)

    assert _cancel(api, host=f"A-{s}.test").json() == {"cancelled": 2}  # host names are case-insensitive
    assert _cancelled(api, [on_a, on_a_port, on_b]) == {on_a, on_a_port}
    assert _cancel(api, host=f"b-{s}.test:80").json() == {"cancelled": 0}  # a port narrows
    assert _cancel(api, label=s).json() == {"cancelled": 1}


def test_repeated_and_comma_separated_values_mean_any_of(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    ids = {name: _publish(client, f"http://{s}.test/{name}", label=f"{name}-{s}") for name in "abcde"}

    assert _cancel(api, label=[f"a-{s}", f"b-{s}"]).json() == {"cancelled": 2}
    assert _cancel(api, label=f"c-{s},d-{s}").json() == {"cancelled": 2}
    assert _cancelled(api, list(ids.values())) == {ids[n] for n in "abcd"}
    assert _cancel(api, url=f"http://{s}.test/e,http://{s}.test/zzz").json() == {"cancelled": 1}


def test_filters_combine_with_and(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    match = _publish(client, f"http://{s}.test/p", label=f"x-{s}")
    other_label = _publish(client, f"http://{s}.test/p", label=f"y-{s}")
    other_path = _publish(client, f"http://{s}.test/q", label=f"x-{s}")

    assert _cancel(api, label=f"x-{s}", path="/p", host=f"{s}.test").json() == {"cancelled": 1}
    assert _cancelled(api, [match, other_label, other_path]) == {match}
    assert _cancel(api, host=f"{s}.test").json() == {"cancelled": 2}


def test_filter_on_an_unused_flow_control_key_cancels_nothing(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    ids = [_publish(client, f"http://{s}.test/x", label=s) for _ in range(2)]
    assert _cancel(api, flowControlKey=[f"a-{s}", f"b-{s}"]).json() == {"cancelled": 0}
    assert _cancel(api, topicName=f"group-{s}").json() == {"cancelled": 0}
    assert _cancelled(api, ids) == set()
    assert _cancel(api, label=s).json() == {"cancelled": 2}


def test_count_caps_how_many_are_cancelled_oldest_first(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    ids = [_publish(client, f"http://{s}.test/x", label=s) for _ in range(3)]
    assert _cancel(api, label=s, count=2).json() == {"cancelled": 2}
    assert _cancelled(api, ids) == set(ids[:2])
    assert _cancel(api, label=s, count=5).json() == {"cancelled": 1}


def test_dates_bound_the_creation_time(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    first = _publish(client, f"http://{s}.test/x", label=s)
    created = client.message.get(first).created_at
    assert _cancel(api, label=s, toDate=created - 1).json() == {"cancelled": 0}
    assert _cancel(api, label=s, fromDate=created + 60_000).json() == {"cancelled": 0}
    assert _cancel(api, label=s, fromDate=created, toDate=created).json() == {"cancelled": 1}


@pytest.mark.parametrize(("params", "named"), [
    ({"pathPrefix": "/a"}, "pathPrefix"),
    ({"all": "true"}, "all"),
    ({"label": ""}, "label"),
    ({"label": "a,,b"}, "label"),
    ({"count": "0"}, "count"),
    ({"count": "501"}, "count"),
    ({"count": "many"}, "count"),
    ({"fromDate": "yesterday"}, "fromDate"),
    ({"fromDate": ["1", "2"]}, "fromDate"),
])
def test_a_filter_it_cannot_honour_is_a_400_and_cancels_nothing(
        client: QStash, api: httpx.Client, params: dict[str, object], named: str) -> None:
    s = _stamp()
    message_id = _publish(client, f"http://{s}.test/x", label=s)
    response = _cancel(api, **params)
    assert response.status_code == 400
    assert named in response.json()["error"]
    assert _cancelled(api, [message_id]) == set()
    assert _cancel(api, label=s).json() == {"cancelled": 1}


def test_json_body_filters_as_the_python_sdk_sends_them(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    ids = [_publish(client, f"http://{s}.test/{i}", label=f"{i}-{s}") for i in range(3)]
    assert client.message.cancel_many([]) == 0
    assert client.message.cancel_many(ids[:1]) == 1
    response = api.request("DELETE", "/v2/messages", json={"label": [f"1-{s}"], "path": "/1"})
    assert response.json() == {"cancelled": 1}
    bad = api.request("DELETE", "/v2/messages", json={"labels": [f"2-{s}"]})
    assert bad.status_code == 400 and "labels" in bad.json()["error"]
    assert _cancelled(api, ids) == set(ids[:2])
    assert _cancel(api, label=f"2-{s}").json() == {"cancelled": 1}
