"""Upstash-Redact-Fields: hidden in message reads, logs, the DLQ and schedules; delivered as sent."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Callable

import httpx
import pytest
from qstash import QStash

from tests.support.recorder import Recorder


def _hidden(value: str) -> str:
    """How QStash shows a redacted value."""
    return "REDACTED:" + hashlib.sha256(value.encode()).hexdigest()


def test_redacted_body_and_header_are_hidden_from_reads_but_delivered(
        client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    body = json.dumps({"password": "hunter2"})
    message_id = client.message.publish(
        url=f"{recorder.url}/secret", body=body, content_type="application/json",
        headers={"Authorization": "Bearer s3cret", "X-Public": "shown"},
        redact={"body": True, "header": ["Authorization"]}).message_id

    [delivery] = recorder.wait_for(1, path="/secret")
    assert delivery.text() == body and delivery.header("Authorization") == "Bearer s3cret"
    message = api.get(f"/v2/messages/{message_id}").json()
    assert message["body"] == _hidden(body)
    assert message["header"]["Authorization"] == [_hidden("Bearer s3cret")]
    assert message["header"]["X-Public"] == ["shown"]
    for entry in api.get("/v2/logs", params={"messageId": message_id}).json()["logs"]:
        assert base64.b64decode(entry["body"]).decode() == _hidden(body)
        assert entry["header"]["Authorization"] == [_hidden("Bearer s3cret")]
    assert "hunter2" not in json.dumps(api.get("/v2/logs", params={"messageId": message_id}).json())


def test_all_headers_can_be_redacted(client: QStash, api: httpx.Client) -> None:
    message_id = client.message.publish(url="http://redact.test/x", body="plain", delay="1h",
                                        headers={"X-One": "1", "X-Two": "2"}, redact={"header": True}).message_id
    message = api.get(f"/v2/messages/{message_id}").json()
    assert message["header"] == {"X-One": [_hidden("1")], "X-Two": [_hidden("2")]}
    assert message["body"] == "plain"
    client.message.cancel(message_id)


@pytest.mark.parametrize("value", ["body, header[Authorization]", "body,headers[authorization]"])
def test_the_rest_api_spellings_are_accepted(api: httpx.Client, value: str) -> None:
    published = api.post("/v2/publish/http://redact.test/x", content=b"b", headers={
        "Upstash-Delay": "1h", "Upstash-Forward-Authorization": "t", "Upstash-Redact-Fields": value})
    message = api.get(f"/v2/messages/{published.json()['messageId']}").json()
    assert (message["body"], message["header"]["Authorization"]) == (_hidden("b"), [_hidden("t")])
    api.delete(f"/v2/messages/{published.json()['messageId']}")


@pytest.mark.parametrize("value", ["bodies", "header[]", "body, cookies"])
def test_an_unknown_redaction_is_a_400(api: httpx.Client, value: str) -> None:
    response = api.post("/v2/publish/http://redact.test/x", content=b"b",
                        headers={"Upstash-Redact-Fields": value})
    assert response.status_code == 400 and "Upstash-Redact-Fields" in response.json()["error"]


def test_the_dlq_hides_them_and_a_dlq_retry_delivers_the_originals(
        client: QStash, api: httpx.Client, recorder: Recorder, until: Callable[..., Any]) -> None:
    recorder.respond("/fails-once", status=500, times=1)
    message_id = client.message.publish(url=f"{recorder.url}/fails-once", body="private", retries=0,
                                        headers={"X-Token": "t0k"},
                                        redact={"body": True, "header": ["X-Token"]}).message_id
    entries = until(lambda: [m for m in api.get("/v2/dlq").json()["messages"] if m["messageId"] == message_id],
                    "the message did not reach the DLQ")
    assert (entries[0]["body"], entries[0]["header"]["X-Token"]) == (_hidden("private"), [_hidden("t0k")])

    retried = api.post(f"/v2/dlq/retry/{entries[0]['dlqId']}").json()["messageId"]
    _, again = recorder.wait_for(2, path="/fails-once")
    assert (again.text(), again.header("X-Token")) == ("private", "t0k")
    assert api.get(f"/v2/messages/{retried}").json()["body"] == _hidden("private")  # still redacted


def test_schedules_hide_them_and_their_ticks_deliver_them(
        client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    schedule_id = client.schedule.create(destination=f"{recorder.url}/tick", cron="0 0 1 1 *", body="tick-body",
                                         headers={"Authorization": "Bearer tick"},
                                         redact={"body": True, "header": ["Authorization"]})
    schedule = api.get(f"/v2/schedules/{schedule_id}").json()
    assert (schedule["body"], schedule["header"]["Authorization"]) == (_hidden("tick-body"), [_hidden("Bearer tick")])
    listed = next(s for s in api.get("/v2/schedules").json() if s["scheduleId"] == schedule_id)
    assert listed["body"] == _hidden("tick-body")

    fired = api.post(f"/_dev/schedules/{schedule_id}/fire").json()["messageId"]
    [tick] = recorder.wait_for(1, path="/tick")
    assert (tick.text(), tick.header("Authorization")) == ("tick-body", "Bearer tick")
    assert api.get(f"/v2/messages/{fired}").json()["body"] == _hidden("tick-body")
    client.schedule.delete(schedule_id)
