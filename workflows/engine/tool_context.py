"""Build the ToolContext of a claimed step: plain values, read only when the tool needs them."""
from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa

from models import Run, RunStatus, RunStep, Workflow
from workflows.engine.attempt import Attempt, ClaimedStep, connection
from workflows.integrations import linkedin
from workflows.ports import Services
from workflows.tools.base import Tool, ToolContext

LINK_MEMORY_RUNS = 10
_runs, _steps, _workflows = Run.__table__, RunStep.__table__, Workflow.__table__
_EARLIER_RUNS = (
    sa.select(_runs.c.id, _runs.c.started_at, _runs.c.created_at)
    .where(_runs.c.workflow_id == sa.bindparam("workflow_id"), _runs.c.id < sa.bindparam("run_id"),
           _runs.c.status == RunStatus.COMPLETED)
    .order_by(_runs.c.id.desc()).limit(LINK_MEMORY_RUNS)
)
_FEED_OUTPUTS = sa.select(_steps.c.output).where(
    _steps.c.run_id.in_(sa.bindparam("run_ids", expanding=True)), _steps.c.tool_name == "fetch_feed")
_OWNER = sa.select(_workflows.c.owner_id).where(_workflows.c.id == sa.bindparam("workflow_id"))


def _links(outputs: list[Any]) -> set[str]:
    links: set[str] = set()
    for output in outputs:
        for item in (output or {}).get("items", []) if isinstance(output, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("link"), str):
                links.add(item["link"])
    return links


def _previous_runs(attempt: Attempt) -> tuple[Any, frozenset[str]]:
    """Start of the previous completed run, and the feed links recent completed runs used."""
    conn = connection()
    earlier = conn.execute(_EARLIER_RUNS, {"workflow_id": attempt.workflow_id, "run_id": attempt.run_id}).all()
    if not earlier:
        return None, frozenset()
    started = earlier[0].started_at or earlier[0].created_at
    outputs = conn.execute(_FEED_OUTPUTS, {"run_ids": [r.id for r in earlier]}).scalars().all()
    return started, frozenset(_links(list(outputs)))


def _credentials(services: Services, attempt: Attempt, loader: Callable[[Any, int], dict[str, Any]]) -> dict[str, Any]:
    owner_id = connection().execute(_OWNER, {"workflow_id": attempt.workflow_id}).scalar_one()
    return loader(services, owner_id)


def build_context(services: Services, attempt: Attempt, step: ClaimedStep, tool: Tool, goal: str,
                  outputs: tuple[dict[str, Any], ...]) -> ToolContext:
    """Everything the tool may know, as plain values (safe to use after the transaction ends).

    `goal` and `outputs` are what the caller read for references (empty when the input has
    none); feed memory and credentials are read here, only for the tools that use them.
    """
    previous_started, previous_links = (None, frozenset())
    if tool.name == "fetch_feed":
        previous_started, previous_links = _previous_runs(attempt)
    loader = CREDENTIAL_LOADERS.get(tool.name)
    credentials = _credentials(services, attempt, loader) if loader is not None else {}
    return ToolContext(
        workflow_id=attempt.workflow_id,
        workflow_goal=goal,
        run_id=attempt.run_id,
        run_started_at=step.run_started_at,
        step_index=attempt.step_index,
        dedup_id=attempt.dedup_id,
        now=services.clock(),
        allow_private_urls=services.settings.allow_private_urls,
        step_outputs=outputs,
        previous_run_started_at=previous_started,
        previous_run_links=previous_links,
        llm=services.llm,
        credentials=credentials,
        linkedin_api_base=services.settings.linkedin_api_base,
    )


# Tools that need a user's stored secret name a loader here (tool name -> loader).
CREDENTIAL_LOADERS: dict[str, Any] = {"linkedin_post": linkedin.step_credentials}
