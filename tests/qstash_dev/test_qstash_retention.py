"""Finished messages stay readable, with their final state, for the retention window; then go."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from qstash import QStash

from qstash_dev.config import DEFAULT_RETENTION_SECONDS, load_config
from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import Recorder

Until = Callable[..., Any]


def _reached(api: httpx.Client, message_id: str, state: str) -> dict | None:
    """The message, once GET shows it in `state` (an outcome commits just after the response)."""
    response = api.get(f"/v2/messages/{message_id}")
    return response.json() if response.status_code == 200 and response.json()["state"] == state else None


def test_a_delivered_message_is_readable_right_after_delivery(
        client: QStash, api: httpx.Client, recorder: Recorder, until: Until) -> None:
    message_id = client.message.publish(url=f"{recorder.url}/fast", body="b", label="kept").message_id
    recorder.wait_for(1, path="/fast")
    message = until(lambda: _reached(api, message_id, "DELIVERED"), "the delivery was not recorded")
    assert (message["url"], message["body"], message["label"]) == (f"{recorder.url}/fast", "b", "kept")
    assert client.message.get(message_id).message_id == message_id  # the SDK parses it too


def test_failed_cancelled_and_retrying_messages_show_their_state(
        client: QStash, api: httpx.Client, recorder: Recorder, until: Until) -> None:
    recorder.respond("/dies", status=500)
    failed = client.message.publish(url=f"{recorder.url}/dies", body="x", retries=0).message_id
    retrying = client.message.publish(url=f"{recorder.url}/dies", body="x", retries=1, retry_delay="3600000").message_id
    waiting = client.message.publish(url=f"{recorder.url}/later", body="x", delay="1h").message_id
    assert api.get(f"/v2/messages/{waiting}").json()["state"] == "CREATED"
    client.message.cancel(waiting)

    until(lambda: _reached(api, failed, "FAILED"), "the failure was not recorded")
    until(lambda: _reached(api, retrying, "RETRY"), "the retry was not scheduled")
    assert api.get(f"/v2/messages/{waiting}").json()["state"] == "CANCELED"
    client.message.cancel(retrying)


def test_after_the_window_a_finished_message_and_its_log_are_gone(
        tmp_path: Path, recorder: Recorder, until: Until) -> None:
    retention = 1.0
    with QStashDevProcess(tmp_path / "q.db", retention=retention) as server, \
            httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as api:
        published = api.post(f"/v2/publish/{recorder.url}/short", content=b"x").json()["messageId"]
        [delivery] = recorder.wait_for(1, path="/short")
        until(lambda: _reached(api, published, "DELIVERED"), "the delivery was not recorded")

        until(lambda: api.get(f"/v2/messages/{published}").status_code == 404,
              "the message outlived its retention window", timeout=10)
        assert time.time() >= delivery.time + retention  # not dropped before the window ended
        assert "kept for 1 s" in api.get(f"/v2/messages/{published}").json()["error"]
        until(lambda: not api.get("/v2/logs", params={"messageId": published}).json()["logs"],
              "its log entries were never pruned", timeout=10)
        with sqlite3.connect(server.db_path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM messages WHERE id = ?", (published,)).fetchone()[0] == 0
        conn.close()


def test_retention_comes_from_the_flag_else_the_environment_else_three_days(tmp_path: Path) -> None:
    assert load_config([], environ={}, cwd=tmp_path).retention == DEFAULT_RETENTION_SECONDS == 3 * 86400
    assert load_config([], environ={"QSTASH_DEV_RETENTION": "60"}, cwd=tmp_path).retention == 60
    (tmp_path / ".env").write_text("QSTASH_DEV_RETENTION=120\n")
    assert load_config([], environ={}, cwd=tmp_path).retention == 120
    assert load_config(["--retention", "5"], environ={"QSTASH_DEV_RETENTION": "60"}, cwd=tmp_path).retention == 5


@pytest.mark.parametrize(("argv", "environ"), [(["--retention", "0"], {}), (["--retention", "soon"], {}),
                                               ([], {"QSTASH_DEV_RETENTION": "-1"}),
                                               ([], {"QSTASH_DEV_RETENTION": "a day"})])
def test_a_bad_retention_stops_start_up(tmp_path: Path, argv: list[str], environ: dict[str, str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_config(argv, environ=environ, cwd=tmp_path)
    assert "retention" in capsys.readouterr().err.lower()
