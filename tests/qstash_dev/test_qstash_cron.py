"""qstash_dev.cron: parsing and next fire times under the shared DST rule."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from qstash_dev.cron import next_fire_times, parse_cron

UTC = timezone.utc


@pytest.mark.parametrize(("expr", "expected"), [
    ("*/15 * * * *", ("*/15 * * * *", "UTC")),
    ("  0 9 * * 1-5  ", ("0 9 * * 1-5", "UTC")),
    ("CRON_TZ=Europe/Berlin 30 2 * * *", ("30 2 * * *", "Europe/Berlin")),
    ("CRON_TZ=America/New_York   0  4 * * *", ("0 4 * * *", "America/New_York")),
    ("CRON_TZ=UTC 0 0 1 1 *", ("0 0 1 1 *", "UTC")),
])
def test_parse_cron_splits_the_timezone_prefix(expr: str, expected: tuple[str, str]) -> None:
    assert parse_cron(expr) == expected


@pytest.mark.parametrize(("expr", "message"), [
    ("", "empty"),
    ("* * * *", "4 fields"),
    ("0 * * * * *", "6 fields"),
    ("61 * * * *", "not valid"),
    ("0 25 * * *", "not valid"),
    ("CRON_TZ=Mars/Olympus 0 9 * * *", "unknown timezone 'Mars/Olympus'"),
    ("CRON_TZ= 0 9 * * *", "timezone is empty"),
    ("CRON_TZ=Europe/Berlin", "0 fields"),
])
def test_parse_cron_rejects_bad_input_with_a_readable_message(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cron(expr)


def local(tz: str, *args: int, fold: int = 0) -> datetime:
    """An aware local time."""
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold)


def utc_list(times: list[datetime]) -> list[str]:
    """Instants as UTC ISO strings (unambiguous, unlike local wall times)."""
    return [t.astimezone(UTC).strftime("%Y-%m-%d %H:%M") for t in times]


@pytest.mark.parametrize(("cron", "tz", "after", "count", "expected_utc"), [
    # UTC, every quarter hour, strictly after `after`.
    ("*/15 * * * *", "UTC", datetime(2025, 1, 1, 10, 0, tzinfo=UTC), 3,
     ["2025-01-01 10:15", "2025-01-01 10:30", "2025-01-01 10:45"]),
    ("*/15 * * * *", "UTC", datetime(2025, 1, 1, 10, 7, 30, tzinfo=UTC), 2,
     ["2025-01-01 10:15", "2025-01-01 10:30"]),
    # Berlin spring forward (2025-03-30, 02:00 -> 03:00): 02:30 does not exist, fires at 03:00 CEST.
    ("30 2 * * *", "Europe/Berlin", local("Europe/Berlin", 2025, 3, 29, 12), 3,
     ["2025-03-30 01:00", "2025-03-31 00:30", "2025-04-01 00:30"]),
    # Every 15 minutes across the gap: 02:00..02:45 collapse into one fire at 03:00, then 03:15.
    ("*/15 * * * *", "Europe/Berlin", local("Europe/Berlin", 2025, 3, 30, 1, 40), 4,
     ["2025-03-30 00:45", "2025-03-30 01:00", "2025-03-30 01:15", "2025-03-30 01:30"]),
    # Berlin fall back (2025-10-26, 03:00 -> 02:00): 02:30 occurs twice, fires on the first (CEST).
    ("30 2 * * *", "Europe/Berlin", local("Europe/Berlin", 2025, 10, 25, 12), 2,
     ["2025-10-26 00:30", "2025-10-27 01:30"]),
    # Every 20 minutes through the repeated hour: no second round of 02:00-02:40.
    ("*/20 * * * *", "Europe/Berlin", local("Europe/Berlin", 2025, 10, 26, 1, 50), 6,
     ["2025-10-26 00:00", "2025-10-26 00:20", "2025-10-26 00:40",
      "2025-10-26 02:00", "2025-10-26 02:20", "2025-10-26 02:40"]),
    # Starting inside the second 02:xx hour: its times already fired on the first pass.
    ("*/20 * * * *", "Europe/Berlin", local("Europe/Berlin", 2025, 10, 26, 2, 10, fold=1), 2,
     ["2025-10-26 02:00", "2025-10-26 02:20"]),
    # New York spring forward (2025-03-09, 02:00 -> 03:00): 02:30 fires at 03:00 EDT.
    ("30 2 * * *", "America/New_York", local("America/New_York", 2025, 3, 8, 12), 2,
     ["2025-03-09 07:00", "2025-03-10 06:30"]),
    # New York fall back (2025-11-02, 02:00 -> 01:00): 01:30 fires once, on EDT.
    ("30 1 * * *", "America/New_York", local("America/New_York", 2025, 11, 1, 12), 2,
     ["2025-11-02 05:30", "2025-11-03 06:30"]),
    # Weekdays at 09:00 New York: Friday, then Monday (skips the weekend).
    ("0 9 * * 1-5", "America/New_York", local("America/New_York", 2025, 1, 3, 8), 2,
     ["2025-01-03 14:00", "2025-01-06 14:00"]),
])
def test_next_fire_times_follow_the_dst_rule(cron: str, tz: str, after: datetime, count: int,
                                             expected_utc: list[str]) -> None:
    assert utc_list(next_fire_times(cron, tz, after, count)) == expected_utc


def test_next_fire_times_are_in_the_schedule_zone() -> None:
    times = next_fire_times("30 2 * * *", "Europe/Berlin", datetime(2025, 3, 29, 12, tzinfo=UTC), 2)
    assert [t.tzinfo for t in times] == [ZoneInfo("Europe/Berlin")] * 2
    assert times[0].strftime("%H:%M %z") == "03:00 +0200"  # just after the gap, local time
    assert times[1].strftime("%H:%M %z") == "02:30 +0200"


def test_next_fire_times_accepts_any_aware_after_and_rejects_naive() -> None:
    after_tokyo = datetime(2025, 1, 1, 19, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 10:00 UTC
    assert utc_list(next_fire_times("0 * * * *", "UTC", after_tokyo, 1)) == ["2025-01-01 11:00"]
    with pytest.raises(ValueError, match="aware"):
        next_fire_times("0 * * * *", "UTC", datetime(2025, 1, 1), 1)
    assert next_fire_times("0 * * * *", "UTC", after_tokyo, 0) == []
