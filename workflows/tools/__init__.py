"""The tool registry: every tool a step can run, by name.

Module map:

- `base`          the tool contract: Tool, ToolContext, ToolResult, Delivery, AssetSpec, EmailSpec
- `schema`        input validation against a tool's JSON Schema (templates allowed where typed)
- `fetch_feed`, `fetch_page`, `write`, `compose`, `send_email`, `http_request`, `linkedin_post`
- `_html`         readable text out of HTML, shared by fetch_page and fetch_feed
"""
from __future__ import annotations

from workflows.tools import compose, fetch_feed, fetch_page, http_request, linkedin_post, send_email, write
from workflows.tools.base import Tool
from workflows.tools.schema import validate_input

REGISTRY: dict[str, Tool] = {
    tool.name: tool
    for tool in (fetch_feed.TOOL, fetch_page.TOOL, write.TOOL, compose.TOOL, send_email.TOOL,
                 http_request.TOOL, linkedin_post.TOOL)
}


def get_tool(name: str) -> Tool | None:
    """The tool of that name, or None."""
    return REGISTRY.get(name)


__all__ = ["REGISTRY", "Tool", "get_tool", "validate_input"]
