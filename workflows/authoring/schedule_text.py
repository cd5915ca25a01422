"""A schedule as people read it: the cron in words (cron-descriptor) and its next fire times.

The words come from cron-descriptor ("At 09:00 AM, only on Monday"); the times from
`schedules.next_times`, so the form shows exactly the ticks QStash will fire (the shared DST rule).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from cron_descriptor import get_description

from workflows.authoring import definitions
from workflows.engine import schedules
from workflows.errors import DomainError


@dataclass(frozen=True)
class SchedulePreview:
    """What the form shows beside "Schedule": the words and next times, or what is wrong."""

    schedule: str | None
    words: str | None = None
    next_runs: list[datetime] = field(default_factory=list)
    error: str | None = None
    field: str | None = None  # "schedule" or "timezone" when one of them is at fault


@lru_cache(maxsize=2048)
def in_words(cron: str) -> str:
    """The cron in English, e.g. "At 09:00 AM, only on Monday"; the cron itself if it has no words."""
    try:
        return get_description(cron)
    except Exception:  # cron-descriptor refuses a few forms croniter accepts: show the cron as is
        return cron


def preview(schedule: str | None, timezone: str | None, now: datetime, count: int = 5) -> SchedulePreview:
    """Check a schedule and timezone as the API does, then describe them."""
    try:
        cron = definitions.check_schedule(schedule)
        zone = definitions.check_timezone(timezone)
    except DomainError as exc:
        return SchedulePreview(schedule=schedule, error=exc.message, field=exc.field)
    if cron is None:
        return SchedulePreview(schedule=None)
    return SchedulePreview(schedule=cron, words=in_words(cron),
                           next_runs=schedules.next_times(cron, zone, now, count))


def next_run(schedule: str | None, timezone: str, paused: bool, now: datetime) -> datetime | None:
    """The next tick of a stored workflow's schedule, or None when it is paused or unscheduled."""
    if paused or not schedule:
        return None
    times = schedules.upcoming(schedule, timezone, now, 1)  # once a minute per cron and zone
    return times[0] if times else None
