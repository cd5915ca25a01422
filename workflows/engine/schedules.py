"""Workflow schedules in QStash: register, pause, delete, sync, repair; next fire times; ticks.

QStash is called before the database is written and outside any transaction, so an
unreachable QStash fails the request with 503 and leaves the database unchanged. A change is
marked in the database first (`begin_change`); if the commit after QStash fails, the old state is
pushed back, and whatever is left marked (a crash, or both failing) the sweep repairs from the
database (`repair_changes`). So QStash and the database agree after any failure.
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
from workflows.errors import Conflict, DomainError, Invalid, Refused
from workflows.ports import Services

SWEEP_SCHEDULE_ID = "stepwise-sweep"
SWEEP_CRON = "* * * * *"
# A tick delivered a little early (clock skew) still belongs to the minute it was meant for.
TICK_TOLERANCE = timedelta(seconds=30)
# A schedule change's mark older than this was left by a crash or a failed commit: repair it.
CHANGE_LEASE = timedelta(seconds=60)


def schedule_id(workflow_id: str) -> str:
    """The QStash schedule id of a workflow (contract)."""
    return f"wf-{workflow_id}"


def qstash_cron(schedule: str, timezone: str) -> str:
    """The cron QStash gets: prefixed `CRON_TZ=<tz> ` unless the workflow runs in UTC."""
    return schedule if timezone == "UTC" else f"CRON_TZ={timezone} {schedule}"


def register(services: Services, workflow_id: str, schedule: str, timezone: str) -> str:
    """Create or replace (upsert) the workflow's schedule; returns its id.

    The cron and its zone are the only parts of the request a user chose, so QStash refusing it
    as a bad request is a 422 naming `schedule`; any other refusal stays our fault.
    """
    sid = schedule_id(workflow_id)
    try:
        services.queue.upsert_schedule(
            sid, services.url(publishing.TRIGGER_PATH), {"workflowId": workflow_id},
            qstash_cron(schedule, timezone),
        )
    except Refused as exc:
        if exc.http_status in (400, 422):
            raise Invalid(f"QStash refused this schedule: {exc.detail}", field="schedule") from exc
        raise
    return sid


def push_state(services: Services, workflow_id: str, schedule: str | None, timezone: str,
               paused: bool) -> str | None:
    """Make QStash hold exactly this state of a workflow's schedule; its id, or None when it has none."""
    sid = schedule_id(workflow_id)
    if schedule is None:
        services.queue.delete_schedule(sid)
        return None
    register(services, workflow_id, schedule, timezone)
    # Say which, either way: whether an upsert keeps a paused schedule paused is QStash's choice.
    (services.queue.pause_schedule if paused else services.queue.resume_schedule)(sid)
    return sid


def begin_change(services: Services, workflow_id: str) -> datetime:
    """Mark (and commit) that the workflow's schedule is about to change in QStash; 409 while another change is."""
    now = services.clock()
    taken = db.session.execute(
        sa.update(Workflow).where(
            Workflow.id == workflow_id,
            sa.or_(Workflow.schedule_changing_since.is_(None),
                   Workflow.schedule_changing_since < now - CHANGE_LEASE),
        ).values(schedule_changing_since=now)
    ).rowcount
    db.session.commit()
    if not taken:
        raise Conflict("another change to this workflow's schedule is in progress; try again in a minute")
    return now


def abandon_change(workflow_id: str, mark: datetime) -> None:
    """QStash refused or did not answer, so nothing changed: clear our mark (the sweep would anyway)."""
    try:
        db.session.rollback()
        db.session.execute(
            sa.update(Workflow).where(Workflow.id == workflow_id, Workflow.schedule_changing_since == mark)
            .values(schedule_changing_since=None)
        )
        db.session.commit()
    except Exception:  # the database is failing too: the mark stays and the sweep re-pushes its state
        db.session.rollback()


def repair_changes(services: Services, older_than: timedelta = CHANGE_LEASE, limit: int = 100) -> int:
    """The sweep's part: a change that crashed or failed between QStash and the commit leaves its
    mark; push the database's state to QStash again and clear it. Returns how many were repaired."""
    cutoff = services.clock() - older_than
    rows = db.session.execute(
        sa.select(Workflow.id, Workflow.schedule, Workflow.timezone, Workflow.paused,
                  Workflow.schedule_changing_since)
        .where(Workflow.schedule_changing_since < cutoff).limit(limit)
    ).all()
    db.session.commit()
    repaired = 0
    for row in rows:
        try:
            sid = push_state(services, row.id, row.schedule, row.timezone, row.paused)
        except DomainError:
            continue  # QStash still failing: the next sweep tries again
        repaired += db.session.execute(
            sa.update(Workflow).where(Workflow.id == row.id,
                                      Workflow.schedule_changing_since == row.schedule_changing_since)
            .values(schedule_changing_since=None, qstash_schedule_id=sid)
        ).rowcount
        db.session.commit()
    return repaired


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


