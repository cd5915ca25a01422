"""The log, the DLQ list and the DLQ's bulk delete and retry filter by the same rule as cancel."""

from __future__ import annotations

import uuid
from typing import Any, Callable

import httpx
import pytest
from qstash import QStash

from tests.support.recorder import Recorder

Until = Callable[..., Any]


def _stamp() -> str:
    """A unique token, so tests sharing the server never see each other's messages."""
    return uuid.uuid4().hex[:10]


def _logged(api: httpx.Client, **params: object) -> set[str]:
    """Ids of the messages whose log entries match."""
    response = api.get("/v2/logs", params=params)
    assert response.status_code == 200, response.text
    return {e["messageId"] for e in response.json()["logs"]}


def _dead(client: QStash, recorder: Recorder, until: Until, path: str, count: int, **options: object) -> list[str]:
    """Publish `count` messages that fail at once (later requests get 200), and wait for the DLQ."""
    recorder.respond(path, status=500, times=count)
    ids = [client.message.publish(url=f"{recorder.url}{path}", body=str(i), retries=0, **options).message_id
           for i in range(count)]
    until(lambda: {m.message_id for m in client.dlq.list(filter={"url": f"{recorder.url}{path}"}).messages}
          == set(ids), "messages did not reach the DLQ")
    return ids


def _dlq(api: httpx.Client, **params: object) -> set[str]:
    """Message ids of the DLQ entries that match."""
    response = api.get("/v2/dlq", params=params)
    assert response.status_code == 200, response.text
    return {m["messageId"] for m in response.json()["messages"]}


def test_logs_filter_by_any_of_several_labels_urls_hosts_and_paths(client: QStash, api: httpx.Client) -> None:
    s = _stamp()
    ids = {n: client.message.publish(url=f"http://{n}-{s}.test/p{n}", body="x", delay="1h",
                                     label=f"{n}-{s}").message_id for n in "abc"}

    assert _logged(api, label=[f"a-{s}", f"b-{s}"]) == {ids["a"], ids["b"]}
    assert _logged(api, label=f"b-{s},c-{s}") == {ids["b"], ids["c"]}
    assert _logged(api, url=[f"http://a-{s}.test/pa", f"http://c-{s}.test/pc"]) == {ids["a"], ids["c"]}
    assert _logged(api, host=[f"a-{s}.test", f"b-{s}.test"]) == {ids["a"], ids["b"]}
    assert _logged(api, host=f"a-{s}.test", path="/pb") == set()
    assert _logged(api, path="/pc", label=[f"a-{s}", f"c-{s}"]) == {ids["c"]}
    assert _logged(api, messageIds=[ids["a"], ids["b"]], state=["CREATED", "DELIVERED"]) == {ids["a"], ids["b"]}
    client.message.cancel_many(list(ids.values()))
    assert _logged(api, label=f"a-{s}", state="CANCELLED") == {ids["a"]}


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/v2/logs", {"hostname": "x"}, "hostname"),
    ("/v2/logs", {"state": "LOST"}, "state"),
    ("/v2/logs", {"label": ""}, "label"),
    ("/v2/logs", {"order": "random"}, "order"),
    ("/v2/dlq", {"host": "127.0.0.1"}, "host"),  # QStash's DLQ does not filter by host or path
    ("/v2/dlq", {"path": "/x"}, "path"),
    ("/v2/dlq", {"responseStatus": "bad"}, "responseStatus"),
])
def test_lists_refuse_a_filter_they_cannot_honour(api: httpx.Client, path: str, params: dict, named: str) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_dlq_list_filters_by_any_of_several_values(client: QStash, api: httpx.Client, recorder: Recorder,
        until: Until) -> None:
    s = _stamp()
    a = _dead(client, recorder, until, f"/a-{s}", 1, label=f"a-{s}")
    b = _dead(client, recorder, until, f"/b-{s}", 1, label=f"b-{s}")
    c = _dead(client, recorder, until, f"/c-{s}", 1, label=f"c-{s}")

    assert _dlq(api, url=[f"{recorder.url}/a-{s}", f"{recorder.url}/b-{s}"]) == set(a + b)
    assert _dlq(api, label=f"b-{s},c-{s}") == set(b + c)
    assert _dlq(api, label=[f"a-{s}", f"c-{s}"], responseStatus=["500", "502"]) == set(a + c)
    assert _dlq(api, label=f"a-{s}", responseStatus="404") == set()
    assert _dlq(api, messageId=a + c) == set(a + c)


def test_dlq_bulk_delete_by_filter_deletes_only_matches(client: QStash, api: httpx.Client, recorder: Recorder,
        until: Until) -> None:
    s = _stamp()
    keep = _dead(client, recorder, until, f"/keep-{s}", 1, label=f"keep-{s}")
    drop = _dead(client, recorder, until, f"/drop-{s}", 3, label=f"drop-{s}")

    refused = api.delete("/v2/dlq", params={"label": f"drop-{s}", "path": f"/drop-{s}"})
    assert refused.status_code == 400 and "path" in refused.json()["error"]
    assert _dlq(api, label=[f"keep-{s}", f"drop-{s}"]) == set(keep + drop)

    first = api.delete("/v2/dlq", params={"label": f"drop-{s}", "count": 2}).json()
    assert first["deleted"] == 2 and first["cursor"]
    assert api.delete("/v2/dlq", params={"label": f"drop-{s}"}).json() == {"deleted": 1}
    assert _dlq(api, label=[f"keep-{s}", f"drop-{s}"]) == set(keep)


def test_dlq_bulk_retry_by_filter_retries_only_matches(client: QStash, api: httpx.Client, recorder: Recorder,
        until: Until) -> None:
    s = _stamp()
    again = _dead(client, recorder, until, f"/again-{s}", 2, label=f"again-{s}")
    left = _dead(client, recorder, until, f"/left-{s}", 1, label=f"left-{s}")

    retried = api.post("/v2/dlq/retry", params={"label": f"again-{s}", "url": f"{recorder.url}/again-{s}"}).json()
    assert len(retried["responses"]) == 2
    recorder.wait_for(4, path=f"/again-{s}")
    assert _dlq(api, label=[f"again-{s}", f"left-{s}"]) == set(left)
    redelivered = recorder.received(f"/again-{s}")[2:]
    assert {r.text() for r in redelivered} == {"0", "1"}
    assert not {r.header("Upstash-Message-Id") for r in redelivered} & set(again)  # new messages
