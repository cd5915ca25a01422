"""Workflow schedules in QStash: register, pause, delete, sync, repair; next fire times; ticks.

QStash is called before the database is written and outside any transaction, so an
unreachable QStash fails the request with 503 and leaves the database unchanged. Whatever may
leave QStash disagreeing with the database marks the workflow first (`schedule_changing_since`):
a change (PATCH, DELETE) commits its mark before calling QStash (`begin_change`), and the cost
guard's pause marks it in the pausing transaction (`PAUSE_MARK`) and calls QStash after the
commit. The commit that records a change clears its mark; `settle` is the one way QStash is
brought back in line with the database, after the cost guard's commit and in the minute sweep
for every mark left due (`repair_changes`). So QStash and the database agree after any failure
(docs/architecture.md, *Schedules and the cron/DST rule*).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter

from extensions import db
from models import Workflow
from qstash_dev.cron import next_fire_times
from workflows.engine import publishing
from workflows.errors import Conflict, DomainError, Invalid, Refused
from workflows.ports import Services

log = logging.getLogger(__name__)

SWEEP_SCHEDULE_ID = "stepwise-sweep"
SWEEP_CRON = "* * * * *"
# A tick delivered a little early (clock skew) still belongs to the minute it was meant for.
TICK_TOLERANCE = timedelta(seconds=30)
# A mark older than this was left by a crash, a failed commit or a QStash that failed: repair it.
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


class State(NamedTuple):
    """What QStash must hold of a workflow's schedule, as the database says it."""

    schedule: str | None
    timezone: str
    paused: bool
    schedule_id: str | None


_w = Workflow.__table__.c
_mark = _w.schedule_changing_since


def due(now: datetime) -> datetime:
    """A mark the next sweep repairs: no one is still bringing QStash in line for it."""
    return now - CHANGE_LEASE


def begin_change(services: Services, workflow_id: str) -> tuple[datetime, State]:
    """Mark (and commit) that the workflow's schedule is about to change in QStash; 409 while another change is.

    Returns the mark and the state read under it: the change is made from that state, not from an
    earlier read, since the cost guard may have paused the workflow in between.
    """
    now = services.clock()
    held = db.session.execute(
        sa.update(Workflow).where(Workflow.id == workflow_id,
                                  sa.or_(_mark.is_(None), _mark <= due(now)))
        .values(schedule_changing_since=now)
        .returning(Workflow.schedule, Workflow.timezone, Workflow.paused, Workflow.qstash_schedule_id)
    ).first()
    db.session.commit()
    if held is None:
        raise Conflict("another change to this workflow's schedule is in progress; try again in a minute")
    return now, State(*held)


def finish_change(workflow_id: str, mark: datetime) -> None:
    """In the transaction that records the change: clear our mark, or, if a pause replaced it
    meanwhile (`PAUSE_MARK`), leave it due, so the sweep pushes the state both wrote together."""
    db.session.execute(
        sa.update(Workflow).where(Workflow.id == workflow_id)
        .values(schedule_changing_since=sa.case((_mark == mark, None), else_=sa.literal(due(mark), _mark.type)))
    )


def abandon_change(workflow_id: str, mark: datetime) -> None:
    """QStash refused or did not answer, so nothing changed: clear our mark (the sweep would anyway)."""
    try:
        db.session.rollback()
        db.session.execute(
            sa.update(Workflow).where(Workflow.id == workflow_id, _mark == mark).values(schedule_changing_since=None)
        )
        db.session.commit()
    except Exception:  # the database is failing too: the mark stays and the sweep re-pushes its state
        db.session.rollback()


# A pause made in a transaction that must not wait for a schedule change (the cost guard's, inside a
# step's commit) marks the workflow as well: with its own mark when no change is in flight (it
# settles after its commit), with a due mark when one is (that change's commit then keeps it due, and
# the sweep pushes what both wrote), and not at all when the workflow was paused already. SET
# expressions read the row as it was before the UPDATE.
PAUSE_MARK = sa.case(
    (_w.paused | (_mark.is_(None) & _w.qstash_schedule_id.is_(None)), _mark),
    (_mark.is_(None), sa.bindparam("mark_now", type_=_mark.type)),
    else_=sa.bindparam("mark_due", type_=_mark.type),
)


def pause_marks(now: datetime) -> dict[str, datetime]:
    """The bind parameters of `PAUSE_MARK`."""
    return {"mark_now": now, "mark_due": due(now)}


def settle(services: Services, workflow_id: str, mark: datetime) -> bool:
    """Bring QStash in line with the database for a mark we hold, then clear it: the one way back.

    Outside any transaction. False when the mark is not ours any more (its new holder settles it),
    or QStash failed (then the mark is left due and the next sweep tries again).
    """
    row = db.session.execute(
        sa.select(Workflow.schedule, Workflow.timezone, Workflow.paused)
        .where(Workflow.id == workflow_id, _mark == mark)
    ).first()
    db.session.rollback()  # no transaction open while QStash is called
    if row is None:
        return False
    try:
        sid = push_state(services, workflow_id, row.schedule, row.timezone, row.paused)
    except DomainError as exc:
        log.warning("schedule of workflow %s not brought in line, the sweep will retry: %s", workflow_id, exc)
        _remark(workflow_id, mark, due(services.clock()))
        return False
    cleared = _remark(workflow_id, mark, None, qstash_schedule_id=sid)
    return bool(cleared)


def _remark(workflow_id: str, mark: datetime, new: datetime | None, **values: object) -> int:
    done = db.session.execute(
        sa.update(Workflow).where(Workflow.id == workflow_id, _mark == mark)
        .values(schedule_changing_since=new, **values)
    ).rowcount
    db.session.commit()
    return done


def repair_changes(services: Services, limit: int = 100) -> int:
    """The sweep's part: every mark that is due (a crash, a failed commit, QStash failing, a pause
    that met a change) is taken afresh, so no change starts meanwhile, and settled. Returns how many."""
    now = services.clock()
    rows = db.session.execute(
        sa.select(Workflow.id, _mark).where(_mark <= due(now)).limit(limit)
    ).all()
    db.session.commit()
    repaired = 0
    for workflow_id, seen in rows:
        if _remark(workflow_id, seen, now):
            repaired += settle(services, workflow_id, now)
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


