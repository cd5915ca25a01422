"""Schedules through the SDK: CRON_TZ, DST, upsert, pause/resume, fire, ticks after downtime."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from qstash import QStash
from qstash.errors import QStashError
from qstash.schedule import ScheduleState

from qstash_dev.cron import next_fire_times
from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import Recorder
from tests.support.stack_tier import stack_fixture

NEW_YORK = ZoneInfo("America/New_York")


def ms(moment: datetime) -> int:
    """Unix milliseconds, as the API reports times."""
    return int(moment.timestamp() * 1000)


def next_transition(tz: ZoneInfo, forward: bool) -> date:
    """The next day on which `tz` springs forward (or falls back)."""
    day = datetime.now(timezone.utc).astimezone(tz).date() + timedelta(days=1)
    for _ in range(400):
        before = datetime.combine(day - timedelta(days=1), datetime.min.time(), tz).utcoffset()
        after = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).utcoffset()
        if (after > before) if forward else (after < before):
            return day
        day += timedelta(days=1)
    raise AssertionError("no DST transition within a year")


def test_create_get_list_delete(client: QStash, recorder: Recorder) -> None:
    before = datetime.now(timezone.utc)
    schedule_id = client.schedule.create_json(
        destination=f"{recorder.url}/daily", cron="CRON_TZ=Europe/Berlin 0 9 * * *", body={"workflowId": "w1"},
        retries=2, delay="30s", timeout="20s", callback=f"{recorder.url}/cb", headers={"X-Tenant": "t1"},
        label="daily")
    schedule = client.schedule.get(schedule_id)
    assert schedule_id.startswith("scd_")
    assert schedule.cron == "CRON_TZ=Europe/Berlin 0 9 * * *"
    assert schedule.destination == f"{recorder.url}/daily"
    assert schedule.body == '{"workflowId": "w1"}'
    assert schedule.headers == {"Content-Type": ["application/json"], "X-Tenant": ["t1"]}
    assert (schedule.retries, schedule.delay, schedule.timeout) == (2, 30, 20)
    assert (schedule.callback, schedule.label, schedule.paused) == (f"{recorder.url}/cb", "daily", False)
    assert schedule.method == "POST" and schedule.caller_ip == "127.0.0.1"
    assert schedule.last_schedule_time is None
    expected = next_fire_times("0 9 * * *", "Europe/Berlin", before, 1)[0]
    assert schedule.next_schedule_time == ms(expected)

    assert schedule_id in [s.schedule_id for s in client.schedule.list()]
    client.schedule.delete(schedule_id)
    with pytest.raises(QStashError, match="404"):
        client.schedule.get(schedule_id)
    with pytest.raises(QStashError, match="404"):
        client.schedule.delete(schedule_id)


def test_next_tick_is_computed_in_the_zone_across_dst_changes(client: QStash, recorder: Recorder) -> None:
    spring = next_transition(NEW_YORK, forward=True)
    fall = next_transition(NEW_YORK, forward=False)
    # 02:30 does not exist on spring-forward day: it fires at 03:00 EDT (07:00 UTC).
    gap = client.schedule.create(destination=f"{recorder.url}/gap",
                                 cron=f"CRON_TZ=America/New_York 30 2 {spring.day} {spring.month} *")
    assert client.schedule.get(gap).next_schedule_time == ms(datetime.combine(spring, datetime.min.time(),
                                                                               timezone.utc) + timedelta(hours=7))
    # 01:30 happens twice on fall-back day: it fires on the first, 01:30 EDT (05:30 UTC).
    twice = client.schedule.create(destination=f"{recorder.url}/twice",
                                   cron=f"CRON_TZ=America/New_York 30 1 {fall.day} {fall.month} *")
    assert client.schedule.get(twice).next_schedule_time == ms(
        datetime.combine(fall, datetime.min.time(), timezone.utc) + timedelta(hours=5, minutes=30))
    client.schedule.delete(gap)
    client.schedule.delete(twice)


def test_upsert_by_schedule_id_replaces_the_schedule(client: QStash, recorder: Recorder) -> None:
    first = client.schedule.create(destination=f"{recorder.url}/v1", cron="*/5 * * * *", schedule_id="stepwise-sweep")
    client.schedule.pause(first)
    second = client.schedule.create(destination=f"{recorder.url}/v2", cron="0 * * * *", schedule_id="stepwise-sweep",
                                    body="new")
    assert first == second == "stepwise-sweep"
    matching = [s for s in client.schedule.list() if s.schedule_id == "stepwise-sweep"]
    assert len(matching) == 1
    assert (matching[0].destination, matching[0].cron, matching[0].body) == (f"{recorder.url}/v2", "0 * * * *", "new")
    assert matching[0].paused  # an update keeps the paused state
    client.schedule.delete("stepwise-sweep")


def test_pause_and_resume_by_patch_and_post(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    schedule_id = client.schedule.create(destination=f"{recorder.url}/p", cron="0 0 * * *")
    client.schedule.pause(schedule_id)  # the SDK sends PATCH
    assert client.schedule.get(schedule_id).paused
    client.schedule.resume(schedule_id)
    assert not client.schedule.get(schedule_id).paused
    assert api.post(f"/v2/schedules/{schedule_id}/pause").status_code == 200  # the REST docs say POST
    assert client.schedule.get(schedule_id).paused
    assert api.post(f"/v2/schedules/{schedule_id}/resume").status_code == 200
    assert not client.schedule.get(schedule_id).paused
    assert api.patch("/v2/schedules/scd_missing/pause").status_code == 404
    client.schedule.delete(schedule_id)


def test_dev_fire_publishes_a_tick_now(client: QStash, api: httpx.Client, recorder: Recorder) -> None:
    schedule_id = client.schedule.create_json(destination=f"{recorder.url}/tick?source=cron", cron="0 0 1 1 *",
                                              body={"workflowId": "w9"}, headers={"X-Run": "yes"})
    next_before = client.schedule.get(schedule_id).next_schedule_time
    fired = api.post(f"/_dev/schedules/{schedule_id}/fire")
    assert fired.status_code == 200
    message_id = fired.json()["messageId"]

    [tick] = recorder.wait_for(1, path="/tick")
    assert tick.path == "/tick?source=cron"
    assert tick.header("Upstash-Schedule-Id") == schedule_id
    assert tick.header("Upstash-Message-Id") == message_id
    assert (tick.text(), tick.header("X-Run")) == ('{"workflowId": "w9"}', "yes")
    deadline = time.monotonic() + 5
    while (schedule := client.schedule.get(schedule_id)).last_schedule_states != {message_id: ScheduleState.SUCCESS}:
        assert time.monotonic() < deadline, f"last tick state stayed {schedule.last_schedule_states}"
        time.sleep(0.05)
    assert schedule.last_schedule_time is not None and schedule.next_schedule_time == next_before
    assert api.post("/_dev/schedules/scd_missing/fire").status_code == 404
    client.schedule.delete(schedule_id)


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "Upstash-Cron header is required"),
    ({"Upstash-Cron": "* * * *"}, "4 fields"),
    ({"Upstash-Cron": "CRON_TZ=Nowhere/City 0 9 * * *"}, "unknown timezone"),
    ({"Upstash-Cron": "0 9 * * *", "Upstash-Retries": "x"}, "Upstash-Retries"),
    ({"Upstash-Cron": "0 9 * * *", "Upstash-Schedule-Id": "bad id/"}, "Upstash-Schedule-Id"),
])
def test_invalid_schedule_is_a_400(api: httpx.Client, headers: dict[str, str], message: str) -> None:
    response = api.post("/v2/schedules/http://127.0.0.1:9/x", headers=headers)
    assert response.status_code == 400 and message in response.json()["error"]


@stack_fixture
def stoppable(tmp_path: Path) -> Iterator[QStashDevProcess]:
    """A server of this test's own, to stop and start."""
    with QStashDevProcess(tmp_path / "q.db") as server:
        yield server


def test_ticks_missed_while_down_fire_once_and_paused_ones_not_at_all(
        stoppable: QStashDevProcess, recorder: Recorder,
        set_schedule_due: Callable[[Path, str, float], None], settle: Callable[..., None]) -> None:
    sdk = QStash(stoppable.token, base_url=stoppable.url, retry=False)
    active = sdk.schedule.create(destination=f"{recorder.url}/active", cron="* * * * *", body="a")
    paused = sdk.schedule.create(destination=f"{recorder.url}/paused", cron="* * * * *", body="p")
    sdk.schedule.pause(paused)
    stoppable.stop()
    # As if the server had been down for an hour: 60 ticks of each schedule were missed.
    for schedule_id in (active, paused):
        set_schedule_due(stoppable.db_path, schedule_id, time.time() - 3600)
    stoppable.start()

    [tick] = recorder.wait_for(1, path="/active", timeout=5)
    assert tick.header("Upstash-Schedule-Id") == active and tick.text() == "a"
    settle(sdk)
    assert len(recorder.received("/active")) == 1
    assert recorder.received("/paused") == []
    after = sdk.schedule.get(active).next_schedule_time
    assert time.time() * 1000 < after <= (time.time() + 60) * 1000


def test_a_schedule_that_cannot_fire_does_not_stop_the_others(
        stoppable: QStashDevProcess, recorder: Recorder,
        set_schedule_due: Callable[[Path, str, float], None]) -> None:
    import sqlite3

    sdk = QStash(stoppable.token, base_url=stoppable.url, retry=False)
    broken = sdk.schedule.create(destination=f"{recorder.url}/broken", cron="* * * * *")
    healthy = sdk.schedule.create(destination=f"{recorder.url}/healthy", cron="* * * * *")
    stoppable.stop()
    with sqlite3.connect(stoppable.db_path) as conn:  # as if tzdata had lost the zone
        conn.execute("UPDATE schedules SET cron = 'CRON_TZ=Gone/Zone * * * * *' WHERE id = ?", (broken,))
    conn.close()
    for schedule_id in (broken, healthy):
        set_schedule_due(stoppable.db_path, schedule_id, time.time() - 60)
    stoppable.start()

    recorder.wait_for(1, path="/healthy", timeout=5)
    message_id = sdk.message.publish(url=f"{recorder.url}/still-delivering", body="x").message_id
    [delivery] = recorder.wait_for(1, path="/still-delivering", timeout=5)
    assert delivery.header("Upstash-Message-Id") == message_id
    assert recorder.received("/broken") == []
    assert "schedule " + broken + " cannot fire" in stoppable.log()
    assert "Gone/Zone" in sdk.schedule.get(broken).error  # still listed, with the reason
    assert len(sdk.schedule.list()) == 2
