"""How runs and steps look on a page: status words, durations, and the bars of a run's timeline.

Every step's bar is placed on one time axis, from the run's creation to its end (or now, while it
is active), in the 0..1000 units of an SVG viewBox: the server draws the chart, no script does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from models import RUN_FINISHED, Run, RunStatus, RunStep, StepStatus

AXIS = 1000.0  # viewBox width of a bar's track
MIN_BAR = 4.0  # a step of a few milliseconds still shows


@lru_cache(maxsize=64)
def status_word(status: StrEnum | str) -> str:
    """A status as its contract word, capitalised: awaiting_approval -> "Awaiting approval"."""
    return str(getattr(status, "value", status)).replace("_", " ").capitalize()


def step_status_word(step: RunStep, waiting_turn: int | None = None) -> str:
    """What a step's status reads as on the run page.

    With STEP_PARALLELISM, the active run's next step may wait in QStash for a free slot:
    `waiting_turn` is that step's index, and it reads "Queued" (a display word only: its status
    stays `pending`) rather than looking stuck.
    """
    if waiting_turn is not None and step.step_index == waiting_turn and step.status == StepStatus.PENDING:
        return "Queued"
    return status_word(step.status)


def waiting_turn(run: Run, steps: list[RunStep], flow_controlled: bool) -> int | None:
    """The index of the step an active run waits on, when flow control may be holding it back."""
    if not flow_controlled or run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
        return None
    for step in steps:
        if step.status != StepStatus.COMPLETED:
            return step.step_index if step.status == StepStatus.PENDING else None
    return None


def duration(seconds: float | None) -> str:
    """A short human duration: 850 ms, 12.3 s, 4 min 5 s, 2 h 3 min."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def is_active(run: Run) -> bool:
    """True while the run may still change (the page keeps polling)."""
    return run.status not in RUN_FINISHED


def run_seconds(run: Run, now: datetime) -> float | None:
    """How long the run took (so far, while active)."""
    start = run.started_at or run.created_at
    end = run.finished_at or (now if is_active(run) else None)
    return (end - start).total_seconds() if start and end else None


def step_seconds(step: RunStep, now: datetime, active: bool) -> float | None:
    """How long a step took (so far, while it runs or waits)."""
    if step.started_at is None:
        return None
    end = step.finished_at or (now if active else None)
    return (end - step.started_at).total_seconds() if end else None


@dataclass(frozen=True)
class Bar:
    """One step's bar: where it starts and how wide it is, in viewBox units."""

    x: float
    width: float


@dataclass(frozen=True)
class Timeline:
    """The bars of a run's steps (None: not started) and the length of the shared axis."""

    bars: list[Bar | None]
    seconds: float


def timeline(run: Run, steps: list[RunStep], now: datetime) -> Timeline:
    """Place every started step on the run's time axis."""
    active = is_active(run)
    start = run.created_at
    ends = [run.finished_at or (now if active else None)]
    ends += [s.finished_at or (now if active else s.started_at) for s in steps if s.started_at]
    starts = [start] + [s.started_at for s in steps if s.started_at]
    start = min(t for t in starts if t is not None)
    end = max([t for t in ends if t is not None] or [start])
    span = max((end - start).total_seconds(), 0.001)
    bars: list[Bar | None] = []
    for step in steps:
        if step.started_at is None:
            bars.append(None)
            continue
        finish = step.finished_at or (now if active else step.started_at)
        x = min((step.started_at - start).total_seconds() / span * AXIS, AXIS - MIN_BAR)
        width = max((finish - step.started_at).total_seconds() / span * AXIS, MIN_BAR)
        bars.append(Bar(round(x, 1), round(min(width, AXIS - x), 1)))
    return Timeline(bars, span)


def status_options(statuses: type[StrEnum]) -> list[tuple[str, str]]:
    """A status filter's options: all, then each status as its word."""
    return [("", "All statuses"), *((s.value, status_word(s)) for s in statuses)]
