"""Cron parsing and fire times, with the one DST rule Stepwise and qstash_dev share.

The rule: a cron time is a local wall-clock time in the schedule's zone.
- A local time that does not exist (the spring-forward gap) fires once, at the
  first local time after the gap (02:30 in Europe/Berlin on that day fires at 03:00).
  Several missing times in one gap collapse into that single fire.
- A local time that occurs twice (the fall-back overlap) fires on its first
  occurrence only.

These functions are pure: the app imports them for its "next runs" display.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = ["parse_cron", "next_fire_times", "local_instant"]

_TZ_PREFIX = "CRON_TZ="
# The longest gap a zone has ever skipped is a whole day (Samoa, 2011-12-30).
_MAX_GAP_MINUTES = 26 * 60


def parse_cron(expr: str) -> tuple[str, str]:
    """Split an optional `CRON_TZ=<IANA> ` prefix off a cron; return (five-field cron, tz)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("cron expression is empty; expected 5 fields like '0 9 * * 1'")
    text = expr.strip()
    tz = "UTC"
    if text.startswith(_TZ_PREFIX):
        head, _, rest = text.partition(" ")
        tz = head[len(_TZ_PREFIX):]
        text = rest.strip()
        _zone(tz)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron expression {text!r} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week)"
        )
    cron = " ".join(fields)
    if not croniter.is_valid(cron):
        raise ValueError(f"cron expression {cron!r} is not valid")
    return cron, tz


def next_fire_times(cron: str, tz: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`, as aware datetimes in zone `tz`."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    if count <= 0:
        return []
    zone = _zone(tz)
    # croniter walks naive wall-clock times; each naive time is then mapped to one instant.
    start = after.astimezone(zone).replace(tzinfo=None, fold=0)
    walker = croniter(cron, start)
    # Compare in UTC: datetimes sharing one tzinfo compare by wall time and ignore fold.
    last = after.astimezone(timezone.utc)
    result: list[datetime] = []
    while len(result) < count:
        instant = local_instant(walker.get_next(datetime), zone)
        # Strictly after the previous one: a time in the repeated hour may already have
        # passed, and several gap times collapse into one fire.
        if instant.astimezone(timezone.utc) > last:
            last = instant.astimezone(timezone.utc)
            result.append(instant)
    return result


def local_instant(naive: datetime, zone: ZoneInfo) -> datetime:
    """Map a naive local time to its fire instant under the DST rule."""
    candidate = naive.replace(tzinfo=zone, fold=0)  # fold=0: the first of two occurrences
    if _exists(candidate):
        return candidate
    moved = naive
    for _ in range(_MAX_GAP_MINUTES):
        moved += timedelta(minutes=1)
        candidate = moved.replace(tzinfo=zone, fold=0)
        if _exists(candidate):
            return candidate
    raise ValueError(f"no valid local time after {naive} in {zone.key}")


def _exists(local: datetime) -> bool:
    """True if this wall-clock time really occurs in its zone (is not in a gap)."""
    round_trip = local.astimezone(timezone.utc).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def _zone(tz: str) -> ZoneInfo:
    """Load an IANA zone, turning every failure into a readable ValueError."""
    if not tz:
        raise ValueError("timezone is empty; expected an IANA name like 'Europe/Berlin'")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {tz!r}; expected an IANA name like 'Europe/Berlin'") from None
