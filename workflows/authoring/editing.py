"""Create, change and delete workflows: validate everything, QStash first, then the database."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from extensions import db
from models import Workflow, WorkflowStep, new_workflow_id
from workflows.authoring import definitions
from workflows.authoring.definitions import StepSpec
from workflows.authoring.planning import NO_LLM_MESSAGE, Planner
from workflows.engine import schedules
from workflows.errors import DomainError, Invalid
from workflows.ports import Services


def _steps_of(data: dict[str, Any], planner: Planner | None, goal: str) -> list[StepSpec]:
    if data.get("steps") is not None:
        return definitions.check_steps(data["steps"])
    if planner is None:
        raise Invalid(f"No steps were given and none can be planned. {NO_LLM_MESSAGE}", field="steps")
    return definitions.check_steps(planner(goal))


def create_workflow(services: Services, owner_id: int, data: Any, planner: Planner | None = None) -> Workflow:
    """Validate everything, register the schedule, then store; nothing is stored on failure."""
    data = definitions.require_object(data)
    definitions.check_fields(data, definitions.WORKFLOW_FIELDS - {"paused"})
    goal = definitions.check_goal(data.get("goal"))
    schedule = definitions.check_schedule(data.get("schedule"))
    timezone = definitions.check_timezone(data.get("timezone"))
    overlap = definitions.check_overlap(data.get("overlap"))
    budget = definitions.check_budget(data.get("budgetUsd"))
    steps = _steps_of(data, planner, goal)

    workflow_id = new_workflow_id()
    schedule_id = schedules.register(services, workflow_id, schedule, timezone) if schedule else None
    workflow = Workflow(id=workflow_id, owner_id=owner_id, goal=goal, schedule=schedule,
                        timezone=timezone, overlap=overlap, qstash_schedule_id=schedule_id, budget_usd=budget)
    workflow.steps = _rows(steps)
    db.session.add(workflow)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        if schedule_id:  # best effort: do not leave a schedule for a workflow that isn't there
            _quietly(services.queue.delete_schedule, schedule_id)
        raise
    return workflow


def _rows(steps: list[StepSpec]) -> list[WorkflowStep]:
    return [
        WorkflowStep(index=i, tool_name=s.tool_name, tool_input=s.tool_input,
                     instruction=s.instruction, needs_approval=s.needs_approval)
        for i, s in enumerate(steps)
    ]


def update_workflow(services: Services, workflow: Workflow, data: Any) -> Workflow:
    """Change goal, schedule, timezone, steps, overlap or paused; QStash first, then the database."""
    data = definitions.require_object(data)
    definitions.check_fields(data, definitions.WORKFLOW_FIELDS)
    changes: dict[str, Any] = {}
    if "goal" in data:
        changes["goal"] = definitions.check_goal(data["goal"])
    if "schedule" in data:
        changes["schedule"] = definitions.check_schedule(data["schedule"])
    if "timezone" in data:
        changes["timezone"] = definitions.check_timezone(data["timezone"])
    if "overlap" in data:
        changes["overlap"] = definitions.check_overlap(data["overlap"])
    if "paused" in data:
        changes["paused"] = definitions.check_paused(data["paused"])
    if "budgetUsd" in data:
        changes["budget_usd"] = definitions.check_budget(data["budgetUsd"])
    steps = definitions.check_steps(data["steps"]) if "steps" in data else None

    state = schedules.State(workflow.schedule, workflow.timezone, workflow.paused, workflow.qstash_schedule_id)
    workflow_id = workflow.id
    db.session.rollback()  # no transaction open while QStash is called; plain values only below
    mark = None
    if _moves(state, changes):
        mark, state = schedules.begin_change(services, workflow_id)
        try:
            changes["qstash_schedule_id"] = _change_schedule(services, workflow_id, state, _target(state, changes))
        except DomainError:
            schedules.abandon_change(workflow_id, mark)
            raise
    for key in _SCHEDULE_FIELDS:
        # A value equal to the one read is not written back: the cost guard may have paused the
        # workflow since (schedules.PAUSE_MARK), and its pause must not be undone by a no-op.
        if key in changes and changes[key] == getattr(state, key):
            del changes[key]

    for key, value in changes.items():
        setattr(workflow, key, value)
    if steps is not None:
        # Runs in flight keep their own copy of the steps (RunStep), so this never reaches them.
        workflow.steps = []
        db.session.flush()
        workflow.steps = _rows(steps)
    _commit_or_restore(services, workflow_id, mark, state if mark else None)
    return workflow


_SCHEDULE_FIELDS = ("schedule", "timezone", "paused")


def _target(state: schedules.State, changes: dict[str, Any]) -> tuple:
    """The (schedule, timezone, paused) the changes ask for, from `state`."""
    return tuple(changes.get(key, getattr(state, key)) for key in _SCHEDULE_FIELDS)


def _moves(state: schedules.State, changes: dict[str, Any]) -> bool:
    """Whether the changes need QStash told anything."""
    target = _target(state, changes)
    return target != state[:3] or bool(target[0]) != bool(state.schedule_id)


def _change_schedule(services: Services, workflow_id: str, old: schedules.State, new: tuple) -> str | None:
    """The fewest QStash calls from the old state to the new one; the schedule id it leaves."""
    schedule, timezone, paused = new
    sid = schedules.schedule_id(workflow_id)
    if schedule is None:
        if old.schedule_id:
            services.queue.delete_schedule(old.schedule_id)
        return None
    if (schedule, timezone) != (old.schedule, old.timezone) or not old.schedule_id:
        return schedules.push_state(services, workflow_id, schedule, timezone, paused)
    (services.queue.pause_schedule if paused else services.queue.resume_schedule)(sid)
    return sid


def _commit_or_restore(services: Services, workflow_id: str, mark: datetime | None,
                       old: schedules.State | None) -> None:
    """Commit (clearing `mark`); if that fails after QStash changed, push the `old` state back
    (the mark stays, and the sweep repairs whatever this could not)."""
    try:
        if mark is not None:
            schedules.finish_change(workflow_id, mark)
        db.session.commit()
    except Exception:
        db.session.rollback()
        if old is not None:
            _quietly(schedules.push_state, services, workflow_id, *old[:3])
        raise


def duplicate_workflow(services: Services, workflow: Workflow) -> Workflow:
    """A paused copy ("Copy of …"): same steps, schedule, timezone and overlap; runs only once resumed.

    Paused, because two workflows firing the same steps on the same ticks is never what the
    person who pressed "Duplicate" wanted; the copy's QStash schedule exists and is paused.
    """
    goal = f"Copy of {workflow.goal}"[: definitions.MAX_GOAL]
    copy = Workflow(id=new_workflow_id(), owner_id=workflow.owner_id, goal=goal, schedule=workflow.schedule,
                    timezone=workflow.timezone, overlap=workflow.overlap, paused=True)
    copy.steps = [WorkflowStep(index=s.index, tool_name=s.tool_name, tool_input=s.tool_input,
                               instruction=s.instruction, needs_approval=s.needs_approval) for s in workflow.steps]
    db.session.rollback()  # no transaction open while QStash is called
    if copy.schedule:
        copy.qstash_schedule_id = schedules.register(services, copy.id, copy.schedule, copy.timezone)
        try:
            services.queue.pause_schedule(copy.qstash_schedule_id)
        except Exception:
            _quietly(services.queue.delete_schedule, copy.qstash_schedule_id)
            raise
    db.session.add(copy)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        if copy.qstash_schedule_id:
            _quietly(services.queue.delete_schedule, copy.qstash_schedule_id)
        raise
    return copy


def delete_workflow(services: Services, workflow: Workflow) -> None:
    """Delete the QStash schedule first (503 leaves everything), then the workflow and its runs."""
    workflow_id, has_schedule, state = workflow.id, bool(workflow.qstash_schedule_id), None
    db.session.rollback()
    if has_schedule:
        mark, state = schedules.begin_change(services, workflow_id)
        try:
            if state.schedule_id:
                services.queue.delete_schedule(state.schedule_id)
        except DomainError:
            schedules.abandon_change(workflow_id, mark)
            raise
    db.session.delete(workflow)
    _commit_or_restore(services, workflow_id, None, state)  # the mark goes with the row


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # best effort cleanup; `schedules sync` removes any leftover
        pass
