"""What a workflow costs (docs/architecture.md, *The cost guard*): the month's spend, the
projected cost of a run, the expected cost of a step, and a prompt's price before it is sent.

Costs are USD, summed from the runs' and steps' `cost_usd` (the tokens the model reported,
priced by `LLM_PRICES`). Where there is no history yet, a prompt is priced by its estimated
tokens: about 4 characters a token, OpenAI's rule of thumb for English text. A real tokenizer
would need each model's vocabulary, which local models don't publish and tiktoken downloads on
first use; an estimate that only has to say "about this much" does not need one.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from extensions import db
from models import Run, RunStatus, RunStep, StepStatus, UTCDateTime, Workflow
from workflows.engine.attempt import connection
from workflows.integrations.llm import cost_usd
from workflows.ports import Services
from workflows.tools import get_tool
from workflows.tools.base import Tool

HISTORY = 10  # runs a median is taken over
CHARS_PER_TOKEN = 4
_runs, _steps = Run.__table__, RunStep.__table__
_SINCE = sa.bindparam("since", type_=UTCDateTime())


def month_start(zone: str, now: datetime) -> datetime:
    """The first instant of `now`'s calendar month in the workflow's zone (aware, in that zone)."""
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usd(amount: float | None) -> str:
    """Money as people read it: $4.98, $0.05, and four significant digits below a cent ($0.0004125)."""
    if amount is None:
        return "—"
    if amount == 0 or amount >= 0.01:
        return f"${amount:,.2f}"
    return f"${amount:.{3 - math.floor(math.log10(amount))}f}"


def prompt_tokens(tool: Tool, tool_input: Any, *, goal: str = "", instruction: str | None = None,
                  history: Sequence[dict[str, Any]] = (), agent: bool = False) -> int:
    """Estimated prompt tokens of one step's model calls: the step agent's, the tool's own, or both."""
    from workflows.integrations.agent import SYSTEM_PROMPT
    from workflows.integrations.llm import DRAFT_SYSTEM

    chars = 0
    if agent:
        chars += len(SYSTEM_PROMPT) + len(goal) + len(instruction or "") + len(json.dumps(tool.input_schema))
        chars += len(json.dumps(list(history), ensure_ascii=False, default=str))
    if tool.uses_model:
        chars += len(DRAFT_SYSTEM) + len(json.dumps(tool_input, ensure_ascii=False, default=str))
    return math.ceil(chars / CHARS_PER_TOKEN)


def prompt_cost(model: str, tokens: int) -> float:
    """What `tokens` prompt tokens cost at LLM_PRICES (0 for a model the table does not know)."""
    return cost_usd(model, tokens, 0)


def plan_cost(services: Services, workflow: Workflow) -> float:
    """A run's cost from its plan alone: every model call's prompt, priced (no outputs known yet)."""
    if services.llm is None:
        return 0.0
    tokens = 0
    for step in workflow.steps:
        tool = get_tool(step.tool_name)
        if tool is not None:
            tokens += prompt_tokens(tool, step.tool_input, goal=workflow.goal, instruction=step.instruction,
                                    agent=bool(step.instruction))
    return prompt_cost(services.settings.llm_model, tokens)


def median(costs: Iterable[float]) -> float | None:
    """The median of the costs, or None when there are none."""
    values = list(costs)
    return statistics.median(values) if values else None


_SPEND = sa.select(sa.func.coalesce(sa.func.sum(_runs.c.cost_usd), 0.0)).where(
    _runs.c.workflow_id == sa.bindparam("workflow_id"), _runs.c.created_at >= _SINCE)
# This step (same index, same tool) in the workflow's last runs that completed it, newest first.
_STEP_HISTORY = (
    sa.select(_steps.c.cost_usd).select_from(_runs.join(_steps, _steps.c.run_id == _runs.c.id))
    .where(_runs.c.workflow_id == sa.bindparam("workflow_id"), _runs.c.id != sa.bindparam("run_id"),
           _steps.c.step_index == sa.bindparam("step_index"), _steps.c.tool_name == sa.bindparam("tool_name"),
           _steps.c.status == StepStatus.COMPLETED.value)
    .order_by(_runs.c.id.desc()).limit(HISTORY)
)


def month_spend(workflow_id: str, since: datetime) -> float:
    """The cost of the workflow's runs created since `since` (from the index alone)."""
    return float(connection().execute(_SPEND, {"workflow_id": workflow_id, "since": since}).scalar_one())


def step_median(workflow_id: str, run_id: int, step_index: int, tool_name: str) -> float | None:
    """The median cost of this step over its last 10 completed runs (None: it never completed)."""
    return median(connection().execute(_STEP_HISTORY, {
        "workflow_id": workflow_id, "run_id": run_id, "step_index": step_index, "tool_name": tool_name}).scalars())


@dataclass(frozen=True)
class WorkflowCost:
    """What the workflow page and the API show of a workflow's cost."""

    budget_usd: float | None
    month_spend_usd: float
    month_start: datetime  # in the workflow's zone
    projected_run_cost_usd: float
    from_history: bool  # the median of completed runs, else priced from the plan


def workflow_costs(services: Services, workflows: Sequence[Workflow], now: datetime) -> dict[str, WorkflowCost]:
    """The cost of each workflow, in two statements for a whole page of them.

    Each workflow's month starts in its own zone, so the spends are one indexed SUM per workflow
    joined by UNION ALL, and the histories one indexed `LIMIT 10` each (as `owned.recent_runs`).
    """
    if not workflows:
        return {}
    starts = {w.id: month_start(w.timezone, now) for w in workflows}
    spends = [sa.select(sa.literal(w.id).label("workflow_id"), sa.func.coalesce(sa.func.sum(Run.cost_usd), 0.0)
                        .label("spend")).where(Run.workflow_id == w.id, Run.created_at >= starts[w.id])
              for w in workflows]
    histories = [sa.select(Run.workflow_id, Run.cost_usd).where(Run.workflow_id == w.id, Run.status == RunStatus.COMPLETED)
                 .order_by(Run.id.desc()).limit(HISTORY).subquery().select() for w in workflows]
    spent = {row.workflow_id: float(row.spend) for row in db.session.execute(_union(spends))}
    costs: dict[str, list[float]] = {w.id: [] for w in workflows}
    for row in db.session.execute(_union(histories)):
        costs[row.workflow_id].append(row.cost_usd)
    found = {}
    for w in workflows:
        projected = median(costs[w.id])
        found[w.id] = WorkflowCost(w.budget_usd, spent.get(w.id, 0.0), starts[w.id],
                                   projected if projected is not None else plan_cost(services, w), projected is not None)
    return found


def _union(parts: list[Any]) -> Any:
    return sa.union_all(*parts) if len(parts) > 1 else parts[0]
