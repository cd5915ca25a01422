"""ToolContexts for tests that run a tool directly, as the step runner would build them.

    make_ctx = context_factory(step_index=1)           # a suite's defaults over the base
    make_ctx(llm=client, step_outputs=({...},))         # one test's overrides over those

The base is step 2 of run 7 of workflow abc123 ("Weekly AI digest"), at 2025-03-10 08:00 UTC;
the dedup id follows the workflow, run and step unless given.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable

from workflows.tools.base import ToolContext

__all__ = ["NOW", "context_factory"]

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=timezone.utc)
BASE: dict[str, Any] = dict(
    workflow_id="abc123", workflow_goal="Weekly AI digest", run_id=7,
    run_started_at=datetime(2025, 3, 10, 7, 59, tzinfo=timezone.utc), step_index=2,
    owner_email="owner@example.com", now=NOW, allow_private_urls=True,
)


def context_factory(**defaults: Any) -> Callable[..., ToolContext]:
    """A builder of ToolContexts: the base, then `defaults`, then the keywords of each call."""
    fields = {**BASE, **defaults}
    fields.setdefault("dedup_id", f"wf-{fields['workflow_id']}-run-{fields['run_id']}-step-{fields['step_index']}")
    base = ToolContext(**fields)

    def build(**overrides: Any) -> ToolContext:
        return replace(base, **overrides)

    return build
