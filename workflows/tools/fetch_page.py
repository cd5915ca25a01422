"""fetch_page: the readable text of a web page."""
from __future__ import annotations

import json
from typing import Any

from workflows.errors import ToolError
from workflows.integrations import guarded_http
from workflows.tools._html import readable_text, sniff_charset, truncate
from workflows.tools.base import Delivery, Tool, ToolContext, ToolResult
from workflows.tools.schema import URL_SCHEMA

MAX_TEXT_CHARS = 20_000
HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
TEXT_TYPES = {"application/json", "application/xml", "application/rss+xml", "application/atom+xml"}
ACCEPT = "text/html, application/xhtml+xml, text/plain;q=0.9, */*;q=0.5"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"url": {**URL_SCHEMA, "description": "The page's URL."}},
    "required": ["url"],
    "additionalProperties": False,
}


def run(tool_input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Fetch a page through the guarded client and return its title and main text."""
    response = guarded_http.fetch(tool_input["url"], headers={"Accept": ACCEPT},
                                 allow_private=ctx.allow_private_urls)
    guarded_http.raise_for_status(response)
    kind = response.content_type
    if kind in HTML_TYPES:
        title, text = readable_text(response.text(sniff_charset(response.content)), MAX_TEXT_CHARS)
        return ToolResult(output={"title": title, "text": text})
    if kind.startswith("text/") or kind in TEXT_TYPES or response.is_json():
        return ToolResult(output={"title": "", "text": truncate(response.text().strip(), MAX_TEXT_CHARS)})
    raise ToolError(f"{response.url} is not a web page or text (content type {json.dumps(kind)})")


TOOL = Tool(
    name="fetch_page",
    description="Fetch a web page and return its title and readable main text (no scripts, menus or footers).",
    input_schema=SCHEMA,
    needs_approval=False,
    delivery=Delivery.READ_ONLY,
    run=run,
    output_fields=("title", "text"),
)
