"""Trying one step from the form ("Test step"): run a read-only tool now; nothing is stored.

Only read-only tools can be tried: anything that emails, posts or calls a webhook would act on
the world. References to earlier steps cannot be resolved outside a run (their outputs don't
exist yet), so a step that uses them is refused with a message saying so; `workflow.goal`,
`run` and `now` work.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from workflows.engine import references
from workflows.errors import RetryableToolError, ToolError
from workflows.ports import Services
from workflows.tools import get_tool, validate_input
from workflows.tools.base import Delivery, Tool, ToolContext

log = logging.getLogger(__name__)

USES_EARLIER_STEPS = (
    "This step uses the output of an earlier step ({{ steps[…] }}), which exists only while a run "
    "executes, so it can't be tested on its own. Put sample values in its place to try it, or use "
    "\"Run now\" on the saved workflow."
)


@dataclass(frozen=True)
class TrialResult:
    """The tool's output, or why there is none."""

    output: dict[str, Any] | None = None
    error: str | None = None


def can_try(tool: Tool | None) -> bool:
    """True for tools that are safe to run from the form: read-only ones."""
    return tool is not None and tool.delivery == Delivery.READ_ONLY


def try_step(services: Services, owner_email: str, goal: str, index: int, step: dict[str, Any]) -> TrialResult:
    """Run one step's tool now with this input (a step in the API's shape); store nothing."""
    tool = get_tool(str(step.get("toolName")))
    if tool is None:
        return TrialResult(error="Choose a tool first.")
    if not can_try(tool):
        return TrialResult(error=f"{tool.name} acts on the world, so it runs only in a real run, after approval.")
    tool_input = step.get("toolInput") or {}
    if references.uses_steps(tool_input):
        return TrialResult(error=USES_EARLIER_STEPS)
    now = services.clock()
    ctx = ToolContext(
        workflow_id="test", workflow_goal=goal, run_id=0, run_started_at=now, step_index=index,
        dedup_id=f"test-step-{index}", owner_email=owner_email, now=now,
        allow_private_urls=services.settings.allow_private_urls, llm=services.llm,
        linkedin_api_base=services.settings.linkedin_api_base,
    )
    try:
        rendered = references.render_input(tool, tool_input, references.namespace(ctx))
        problems = validate_input(tool, rendered, partial=False)
        if problems:
            return TrialResult(error="; ".join(f"{field} {message}" for field, message in problems))
        return TrialResult(output=tool.run(rendered, ctx).output)
    except (ToolError, RetryableToolError) as exc:
        return TrialResult(error=str(exc))
    except Exception:  # a bug in a tool must not become a 500 on the form
        log.exception("trying %s failed", tool.name)
        return TrialResult(error=f"{tool.name} failed unexpectedly; the error has been logged.")
