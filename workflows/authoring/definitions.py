"""Workflows: validating what a user (or the planner) wrote, and storing it.

Validation never writes: a rejected request changes nothing. 400 is for the wrong shape
(not an object, wrong types), 422 for values that are well-formed but unacceptable, always
naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from models import Overlap, utcnow
from qstash_dev.cron import next_fire_times, parse_cron
from workflows.engine import references
from workflows.errors import Invalid, Malformed
from workflows.tools import REGISTRY, get_tool, validate_input

MAX_GOAL = 2000
MAX_STEPS = 20
MAX_INSTRUCTION = 4000
WORKFLOW_FIELDS = {"goal", "schedule", "timezone", "steps", "overlap", "paused", "budgetUsd"}
MAX_BUDGET = 1_000_000.0
STEP_FIELDS = {"toolName", "toolInput", "instruction", "needsApproval"}


@dataclass(frozen=True)
class StepSpec:
    """One validated step, ready to store."""

    tool_name: str
    tool_input: dict[str, Any]
    instruction: str | None
    needs_approval: bool


def require_object(data: Any) -> dict[str, Any]:
    """The body must be a JSON object."""
    if not isinstance(data, dict):
        raise Malformed("body must be a JSON object")
    return data


def check_fields(data: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    """Unknown fields are refused, so a typo ("shedule") is never silently ignored."""
    for key in data:
        if key not in allowed:
            raise Invalid(f"unknown field; expected one of: {', '.join(sorted(allowed))}", field=f"{prefix}{key}")


def check_goal(value: Any) -> str:
    if not isinstance(value, str):
        raise Malformed("goal must be a string", field="goal")
    goal = value.strip()
    if not goal:
        raise Invalid("goal must not be empty", field="goal")
    if len(goal) > MAX_GOAL:
        raise Invalid(f"goal must be at most {MAX_GOAL} characters (got {len(goal)})", field="goal")
    return goal


def check_schedule(value: Any) -> str | None:
    """A five-field cron in the workflow's timezone, or null for run-now only."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Malformed("schedule must be a string or null", field="schedule")
    schedule = " ".join(value.split())
    if schedule.upper().startswith("CRON_TZ="):
        raise Invalid("put the timezone in the timezone field, not in the cron", field="schedule")
    try:
        parse_cron(schedule)
    except ValueError as exc:
        raise Invalid(f"not a valid cron of 5 fields (minute hour day month weekday): {exc}", field="schedule") from None
    try:
        next_fire_times(schedule, "UTC", utcnow(), 1)
    except ValueError:  # croniter searched ahead and found no such day
        raise Invalid("this schedule never fires: no month has that day (such as February 30th)",
                      field="schedule") from None
    return schedule


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    """Every IANA zone name, sorted (for a select)."""
    return tuple(sorted(_timezones()))


def known_timezone(name: str) -> bool:
    """True for an IANA zone name (never a folder such as "America", a path, or a long string)."""
    return name in _timezones()


def check_timezone(value: Any) -> str:
    if value is None or value == "":
        return "UTC"
    if not isinstance(value, str):
        raise Malformed("timezone must be a string", field="timezone")
    if not known_timezone(value):
        shown = value if len(value) <= 60 else value[:60] + "…"
        raise Invalid(f"unknown timezone {shown!r}; use an IANA name such as Europe/Berlin", field="timezone")
    return value


def check_overlap(value: Any) -> Overlap:
    if value is None:
        return Overlap.SKIP
    if not isinstance(value, str):
        raise Malformed("overlap must be a string", field="overlap")
    try:
        return Overlap(value)
    except ValueError:
        raise Invalid("overlap must be skip, queue, allow or supersede", field="overlap") from None


def check_budget(value: Any) -> float | None:
    """A monthly budget in USD for the workflow's model calls: a number from 0, or null for none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed("budgetUsd must be a number of US dollars, or null for no budget", field="budgetUsd")
    if not 0 <= value <= MAX_BUDGET:  # NaN fails both comparisons
        raise Invalid(f"budgetUsd must be from 0 to {MAX_BUDGET:,.0f} US dollars a month", field="budgetUsd")
    return float(value)


def check_paused(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Malformed("paused must be true or false", field="paused")
    return value


def check_steps(value: Any) -> list[StepSpec]:
    """Shape, tools, schemas and references of a list of steps (user's or planner's)."""
    if not isinstance(value, list):
        raise Malformed("steps must be a list", field="steps")
    problems = _problems(value)
    if problems:
        field, message, malformed = problems[0]
        raise (Malformed if malformed else Invalid)(f"{field} {message}", field=field)
    return [_spec(raw) for raw in value]


def _spec(raw: dict[str, Any]) -> StepSpec:
    tool = REGISTRY[raw["toolName"]]
    needs = raw.get("needsApproval")
    instruction = raw.get("instruction")
    return StepSpec(
        tool_name=tool.name,
        tool_input=raw.get("toolInput") or {},
        instruction=instruction.strip() if isinstance(instruction, str) and instruction.strip() else None,
        # The owner may turn approval off explicitly; without a word, the tool's policy holds.
        needs_approval=tool.needs_approval if needs is None else needs,
    )


def workflow_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a workflow body as (field, message) pairs, for a form that shows them all.

    The same checks as create and update; a form calls this first, then saves through them.
    """
    problems: list[tuple[str, str]] = []
    for name, check in (("goal", check_goal), ("schedule", check_schedule), ("timezone", check_timezone),
                        ("overlap", check_overlap), ("budgetUsd", check_budget)):
        try:
            check(data.get(name))
        except (Invalid, Malformed) as exc:
            problems.append((exc.field or name, exc.message))
    steps = data.get("steps")
    if not isinstance(steps, list):
        return [*problems, ("steps", "steps must be a list")]
    return problems + step_problems(steps)


def step_problems(steps: list[Any]) -> list[tuple[str, str]]:
    """Every problem of a list of steps as (field, message) pairs; the planner repairs with them."""
    return [(field, message) for field, message, _ in _problems(steps)]


Problem = tuple[str, str, bool]  # (field, message, malformed: a wrong type rather than a bad value)


def _problems(steps: list[Any]) -> list[Problem]:
    if not steps:
        return [("steps", "needs at least one step", False)]
    if len(steps) > MAX_STEPS:
        return [("steps", f"has {len(steps)} steps; at most {MAX_STEPS} are allowed", False)]
    problems: list[Problem] = []
    for i, raw in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(raw, dict):
            problems.append((where, "must be an object", True))
            continue
        problems += [(f"{where}.{k}", "is not a step field", False) for k in raw if k not in STEP_FIELDS]
        problems += _step_value_problems(where, raw)
    if not problems:
        problems += [(field, message, False) for field, message in references.check_references(steps)]
    return problems


def _step_value_problems(where: str, raw: dict[str, Any]) -> list[Problem]:
    name, tool_input = raw.get("toolName"), raw.get("toolInput", {})
    instruction, needs = raw.get("instruction"), raw.get("needsApproval")
    if not isinstance(name, str):
        return [(f"{where}.toolName", "must be a string naming a tool", True)]
    tool = get_tool(name)
    if tool is None:
        return [(f"{where}.toolName", f"unknown tool {name!r}; tools: {', '.join(sorted(REGISTRY))}", False)]
    if tool_input is None:
        tool_input = {}
    if not isinstance(tool_input, dict):
        return [(f"{where}.toolInput", "must be an object", True)]
    if instruction is not None and not isinstance(instruction, str):
        return [(f"{where}.instruction", "must be a string", True)]
    if isinstance(instruction, str) and len(instruction) > MAX_INSTRUCTION:
        return [(f"{where}.instruction", f"is over {MAX_INSTRUCTION} characters", False)]
    if needs is not None and not isinstance(needs, bool):
        return [(f"{where}.needsApproval", "must be true or false", True)]
    has_agent = bool(instruction and instruction.strip())
    return [
        (f"{where}.{field}", message, False)
        for field, message in validate_input(tool, tool_input, partial=True, allow_missing=has_agent)
    ]
