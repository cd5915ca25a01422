"""Build the ToolContext of a claimed step from the database (read-only)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from extensions import db
from models import Run, RunStatus, RunStep
from workflows.engine import publishing
from workflows.integrations import linkedin
from workflows.ports import Services
from workflows.tools.base import Tool, ToolContext

LINK_MEMORY_RUNS = 10


def _links(outputs: list[Any]) -> set[str]:
    links: set[str] = set()
    for output in outputs:
        for item in (output or {}).get("items", []) if isinstance(output, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("link"), str):
                links.add(item["link"])
    return links


def _previous_runs(run: Run) -> tuple[Any, frozenset[str]]:
    """Start of the previous completed run, and the feed links recent completed runs used."""
    earlier = list(
        db.session.execute(
            sa.select(Run.id, Run.started_at, Run.created_at)
            .where(Run.workflow_id == run.workflow_id, Run.id < run.id, Run.status == RunStatus.COMPLETED)
            .order_by(Run.id.desc())
            .limit(LINK_MEMORY_RUNS)
        )
    )
    if not earlier:
        return None, frozenset()
    started = earlier[0].started_at or earlier[0].created_at
    outputs = db.session.scalars(
        sa.select(RunStep.output).where(
            RunStep.run_id.in_([r.id for r in earlier]), RunStep.tool_name == "fetch_feed"
        )
    ).all()
    return started, frozenset(_links(list(outputs)))


def build_context(services: Services, run: Run, step: RunStep, tool: Tool) -> ToolContext:
    """Everything the tool may know, as plain values (safe to use after the session closes)."""
    outputs = tuple(
        (s.output or {}) for s in run.steps if s.step_index < step.step_index
    )
    previous_started, previous_links = (None, frozenset())
    if tool.name == "fetch_feed":
        previous_started, previous_links = _previous_runs(run)
    credentials: dict[str, Any] = {}
    loader = CREDENTIAL_LOADERS.get(tool.name)
    if loader is not None:
        credentials = loader(services, run.workflow.owner_id)
    return ToolContext(
        workflow_id=run.workflow_id,
        workflow_goal=run.workflow.goal,
        run_id=run.id,
        run_started_at=run.started_at or run.created_at,
        step_index=step.step_index,
        dedup_id=publishing.step_dedup_id(run.workflow_id, run.id, step.step_index),
        owner_email=run.workflow.owner.email,
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
