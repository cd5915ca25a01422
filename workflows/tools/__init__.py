"""The tool registry: every tool a step can run, by name."""
from __future__ import annotations

from workflows.tools import compose, fetch_feed, fetch_page, http_request, send_email
from workflows.tools.base import Tool
from workflows.tools.schema import validate_input

# `write` and `linkedin_post` join this tuple when the LLM issue lands.
REGISTRY: dict[str, Tool] = {
    tool.name: tool
    for tool in (fetch_feed.TOOL, fetch_page.TOOL, compose.TOOL, send_email.TOOL, http_request.TOOL)
}


def get_tool(name: str) -> Tool | None:
    """The tool of that name, or None."""
    return REGISTRY.get(name)


__all__ = ["REGISTRY", "Tool", "get_tool", "validate_input"]
