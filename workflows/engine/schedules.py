"""Workflow schedules in QStash: register, pause, delete, sync; next fire times; ticks.

QStash is called before the database is written and outside any transaction, so an
unreachable QStash fails the request with 503 and leaves the database unchanged.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter

from extensions import db
from models import Workflow
from qstash_dev.cron import next_fire_times
from workflows.engine import publishing
from workflows.ports import Services

SWEEP_SCHEDULE_ID = "stepwise-sweep"
SWEEP_CRON = "* * * * *"
# A tick delivered a little early (clock skew) still belongs to the minute it was meant for.
TICK_TOLERANCE = timedelta(seconds=30)


def schedule_id(workflow_id: str) -> str:
    """The QStash schedule id of a workflow (contract)."""
    return f"wf-{workflow_id}"


def qstash_cron(schedule: str, timezone: str) -> str:
    """The cron QStash gets: prefixed `CRON_TZ=<tz> ` unless the workflow runs in UTC."""
    return schedule if timezone == "UTC" else f"CRON_TZ={timezone} {schedule}"


def register(services: Services, workflow_id: str, schedule: str, timezone: str) -> str:
    """Create or replace (upsert) the workflow's schedule; returns its id."""
    sid = schedule_id(workflow_id)
    services.queue.upsert_schedule(
        sid, services.url(publishing.TRIGGER_PATH), {"workflowId": workflow_id},
        qstash_cron(schedule, timezone),
    )
    return sid


def next_times(schedule: str, timezone: str, now: datetime, count: int = 5) -> list[datetime]:
    """The next fire times of a cron in a zone, under the shared DST rule (aware, in that zone)."""
    return next_fire_times(schedule, timezone, now, count)


def upcoming(schedule: str, timezone: str, now: datetime, count: int = 5) -> tuple[datetime, ...]:
    """`next_times` of a stored schedule, worked out once a minute for every list that shows it.

    Ticks fall on whole minutes, so "after now" is "after the minute now is in": within a minute
    the answer for a cron and zone never changes (a pure function, the same on every instance),
    and a page of 50 workflows that share a few schedules walks each cron once a minute instead
    of 5 times per workflow per request.
    """
    return _upcoming(schedule, timezone, now.replace(second=0, microsecond=0), count)


@lru_cache(maxsize=1024)
def _upcoming(schedule: str, timezone: str, minute: datetime, count: int) -> tuple[datetime, ...]:
    return tuple(next_times(schedule, timezone, minute, count))


def next_runs(workflow: Workflow, now: datetime, count: int = 5) -> list[str]:
    """The next fire times, ISO 8601 with the offset of the workflow's timezone."""
    if not workflow.schedule:
        return []
    return [t.isoformat() for t in upcoming(workflow.schedule, workflow.timezone, now, count)]


def tick_time(schedule: str, timezone: str, delivered_at: datetime) -> datetime:
    """The tick a schedule delivery belongs to: the latest fire time at or before delivery."""
    zone = ZoneInfo(timezone)
    reference = (delivered_at + TICK_TOLERANCE).astimezone(zone)
    candidate = croniter(schedule, reference).get_prev(datetime)
    # Snap to the shared DST rule, so both sides of a clock change name a tick the same way.
    snapped = next_fire_times(schedule, timezone, candidate - timedelta(seconds=1), 1)
    tick = snapped[0] if snapped and snapped[0] <= reference else candidate
    return tick.astimezone(ZoneInfo("UTC")).replace(second=0, microsecond=0)


def sync(services: Services) -> list[str]:
    """Re-create every active workflow's schedule and the sweep; remove orphans. One line per change."""
    lines: list[str] = []
    existing = {s["scheduleId"]: s for s in services.queue.list_schedules()}
    workflows = db.session.scalars(sa.select(Workflow).where(Workflow.schedule.is_not(None))).all()
    wanted: set[str] = set()
    for workflow in workflows:
        sid = schedule_id(workflow.id)
        wanted.add(sid)
        cron = qstash_cron(workflow.schedule, workflow.timezone)
        current = existing.get(sid)
        if current is None or current["cron"] != cron or current["destination"] != services.url(publishing.TRIGGER_PATH):
            register(services, workflow.id, workflow.schedule, workflow.timezone)
            lines.append(f"{'created' if current is None else 'updated'} {sid} ({cron})")
        if workflow.paused and not (current or {}).get("isPaused"):
            services.queue.pause_schedule(sid)
            lines.append(f"paused {sid}")
        elif not workflow.paused and (current or {}).get("isPaused"):
            services.queue.resume_schedule(sid)
            lines.append(f"resumed {sid}")
        if workflow.qstash_schedule_id != sid:
            workflow.qstash_schedule_id = sid
    db.session.commit()
    for sid in existing:
        if sid.startswith("wf-") and sid not in wanted:
            services.queue.delete_schedule(sid)
            lines.append(f"deleted orphan {sid}")
    sweep = existing.get(SWEEP_SCHEDULE_ID)
    sweep_url = services.url(publishing.SWEEP_PATH)
    if sweep is None or sweep["cron"] != SWEEP_CRON or sweep["destination"] != sweep_url:
        services.queue.upsert_schedule(SWEEP_SCHEDULE_ID, sweep_url, {}, SWEEP_CRON)
        lines.append(f"{'created' if sweep is None else 'updated'} {SWEEP_SCHEDULE_ID} ({SWEEP_CRON})")
    return lines


