"""Nothing accepted is lost: SIGKILL with messages pending, in flight and delayed, then restart."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest
from qstash import QStash

from qstash_dev.db import ADDED_COLUMNS
from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import Recorder


def test_sigkill_loses_no_message_and_no_schedule(
        tmp_path: Path, recorder: Recorder, set_schedule_due: Callable[[Path, str, float], None],
        settle: Callable[..., None]) -> None:
    server = QStashDevProcess(tmp_path / "q.db").start()
    try:
        sdk = QStash(server.token, base_url=server.url, retry=False)
        # A queue of parallelism 1 whose head hangs: the head is in flight, the rest pending.
        recorder.respond("/queued", delay=3, times=1)
        queued = [sdk.message.enqueue(queue="serial", url=f"{recorder.url}/queued", body=f"q{i}").message_id
                  for i in range(4)]
        delayed = sdk.message.publish(url=f"{recorder.url}/delayed", body="d", delay="2s").message_id
        schedule_id = sdk.schedule.create(destination=f"{recorder.url}/tick", cron="0 0 * * *", body="t")
        [head] = recorder.wait_for(1, path="/queued")
        assert head.header("Upstash-Message-Id") == queued[0]

        server.kill()
        assert server.returncode == -signal.SIGKILL
        killed_at = time.time()
        set_schedule_due(server.db_path, schedule_id, killed_at - 60)  # its tick came while it was down
        server.start()

        after = recorder.wait_for(5, path="/queued", timeout=10)[1:]
        # At-least-once: the head that was in flight comes again, then the rest, in queue order.
        assert [r.header("Upstash-Message-Id") for r in after] == queued
        assert [r.text() for r in after] == ["q0", "q1", "q2", "q3"]
        assert all(r.time > killed_at for r in after)
        [late] = recorder.wait_for(1, path="/delayed", timeout=5)
        assert late.header("Upstash-Message-Id") == delayed and late.time > killed_at
        [tick] = recorder.wait_for(1, path="/tick", timeout=5)
        assert tick.header("Upstash-Schedule-Id") == schedule_id
        assert [s.schedule_id for s in sdk.schedule.list()] == [schedule_id]
        settle(sdk)
        assert len(recorder.received("/delayed")) == 1 and len(recorder.received("/tick")) == 1
    finally:
        server.stop()


def test_sigterm_stops_cleanly_and_keeps_delayed_messages(tmp_path: Path, recorder: Recorder) -> None:
    server = QStashDevProcess(tmp_path / "q.db").start()
    sdk = QStash(server.token, base_url=server.url, retry=False)
    message_id = sdk.message.publish(url=f"{recorder.url}/after-restart", body="x", delay="1s").message_id
    assert server.stop() == 0
    log = server.log()
    assert f"qstash_dev listening on {server.url} (db {server.db_path.resolve()})" in log
    assert "qstash_dev stopped" in log
    server.start()
    try:
        [delivery] = recorder.wait_for(1, path="/after-restart", timeout=5)
        assert delivery.header("Upstash-Message-Id") == message_id
    finally:
        server.stop()


def _make_old(db_path: Path) -> None:
    """Turn a database file into one an older qstash_dev made: without the columns added since."""
    with sqlite3.connect(db_path) as conn:
        for table, column, _ in ADDED_COLUMNS:
            for (index,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
                                         " AND sql LIKE ?", (table, f"%{column}%")).fetchall():
                conn.execute(f"DROP INDEX {index}")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.close()


@pytest.mark.stack
def test_a_database_file_from_an_older_version_is_upgraded_in_place(tmp_path: Path) -> None:
    server = QStashDevProcess(tmp_path / "q.db").start()
    sdk = QStash(server.token, base_url=server.url, retry=False)
    kept = sdk.message.publish(url="http://old.test/kept", body="x", delay="1h", label="old").message_id
    server.stop()
    _make_old(server.db_path)
    server.start()
    try:
        assert sdk.message.get(kept).label == "old"
        # Filters over the added columns work on the upgraded file.
        by_new_columns = httpx.delete(f"{server.url}/v2/messages", headers={"Authorization": f"Bearer {server.token}"},
                                      params={"topicName": "none", "flowControlKey": "none"})
        assert by_new_columns.json() == {"cancelled": 0}
        assert sdk.message.cancel_many([kept]) == 1
    finally:
        server.stop()
