"""Deduplication by id and by content, within and after the window."""

from __future__ import annotations

import time
from typing import Callable, Iterator

import httpx
import pytest
from qstash import QStash

from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import Recorder
from tests.support.stack_tier import stack_fixture

SHORT_WINDOW = 1.0


@stack_fixture(scope="module")
def short_window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QStashDevProcess]:
    """A server whose dedup window is one second."""
    with QStashDevProcess(tmp_path_factory.mktemp("dedup") / "q.db", dedup_window=SHORT_WINDOW) as server:
        yield server


def test_same_dedup_id_within_the_window_is_a_202_with_the_first_id(
        client: QStash, api: httpx.Client, recorder: Recorder, settle: Callable[..., None]) -> None:
    first = client.message.publish(url=f"{recorder.url}/d", body="one", deduplication_id="order-1")
    second = client.message.publish(url=f"{recorder.url}/d", body="two", deduplication_id="order-1")
    assert not first.deduplicated
    assert second.deduplicated and second.message_id == first.message_id

    raw = api.post(f"/v2/publish/{recorder.url}/d", headers={"Upstash-Deduplication-Id": "order-1"}, content=b"3")
    assert raw.status_code == 202
    assert raw.json() == {"messageId": first.message_id, "deduplicated": True}

    recorder.wait_for(1, path="/d")
    settle()
    assert [r.body for r in recorder.received("/d")] == [b"one"]


@pytest.mark.parametrize("header_value", ["True", "true"])  # the Python SDK sends True, the JS SDK true
def test_same_content_within_the_window_is_deduplicated(
        api: httpx.Client, recorder: Recorder, header_value: str) -> None:
    headers = {"Upstash-Content-Based-Deduplication": header_value, "Content-Type": "text/plain"}
    body = f"same content {header_value}".encode()
    first = api.post(f"/v2/publish/{recorder.url}/c", headers=headers, content=body)
    again = api.post(f"/v2/publish/{recorder.url}/c", headers=headers, content=body)
    other_body = api.post(f"/v2/publish/{recorder.url}/c", headers=headers, content=body + b"!")
    other_url = api.post(f"/v2/publish/{recorder.url}/c2", headers=headers, content=body)
    other_header = api.post(f"/v2/publish/{recorder.url}/c", content=body,
                            headers={**headers, "Upstash-Forward-X-Tenant": "b"})

    assert first.status_code == 201
    assert again.status_code == 202 and again.json()["messageId"] == first.json()["messageId"]
    for different in (other_body, other_url, other_header):
        assert different.status_code == 201 and different.json()["messageId"] != first.json()["messageId"]
    recorder.wait_for(4)


def test_sdk_content_based_deduplication(client: QStash, recorder: Recorder) -> None:
    first = client.message.publish_json(url=f"{recorder.url}/s", body={"a": 1}, content_based_deduplication=True)
    second = client.message.publish_json(url=f"{recorder.url}/s", body={"a": 1}, content_based_deduplication=True)
    assert second.deduplicated and second.message_id == first.message_id


def test_batch_deduplicates_within_itself(client: QStash, recorder: Recorder) -> None:
    results = client.message.batch([
        {"url": f"{recorder.url}/bd", "body": "x", "deduplication_id": "batch-dup"},
        {"url": f"{recorder.url}/bd", "body": "y", "deduplication_id": "batch-dup"},
    ])
    assert [r.deduplicated for r in results] == [False, True]
    assert results[0].message_id == results[1].message_id


def test_after_the_window_the_same_id_and_content_publish_again(
        short_window: QStashDevProcess, recorder: Recorder) -> None:
    sdk = QStash(short_window.token, base_url=short_window.url, retry=False)
    by_id = sdk.message.publish(url=f"{recorder.url}/w", body="a", deduplication_id="window")
    by_content = sdk.message.publish(url=f"{recorder.url}/w", body="c", content_based_deduplication=True)
    assert sdk.message.publish(url=f"{recorder.url}/w", body="a", deduplication_id="window").deduplicated
    time.sleep(SHORT_WINDOW + 0.2)
    id_again = sdk.message.publish(url=f"{recorder.url}/w", body="a", deduplication_id="window")
    content_again = sdk.message.publish(url=f"{recorder.url}/w", body="c", content_based_deduplication=True)
    assert not id_again.deduplicated and id_again.message_id != by_id.message_id
    assert not content_again.deduplicated and content_again.message_id != by_content.message_id
    recorder.wait_for(4)
