"""fetch_feed: the latest items of an RSS or Atom feed."""
from __future__ import annotations

import calendar
import io
from datetime import datetime, timezone
from typing import Any

from models import iso
from workflows.errors import ToolError
from workflows.integrations import guarded_http
from workflows.tools._html import strip_tags
from workflows.tools.base import Delivery, Tool, ToolContext, ToolResult
from workflows.tools.schema import URL_SCHEMA

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
SUMMARY_CHARS = 500
TITLE_CHARS = 300
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {**URL_SCHEMA, "description": "The feed's URL (RSS or Atom)."},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT,
                  "description": "How many items to return at most."},
        "sinceLastRun": {"type": "boolean", "default": False,
                         "description": "Only items newer than the previous run, never one it already used."},
    },
    "required": ["url"],
    "additionalProperties": False,
}


def run(tool_input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Fetch the feed through the guarded client and return its items, newest rules applied."""
    url = tool_input["url"]
    response = guarded_http.fetch(url, headers={"Accept": ACCEPT}, allow_private=ctx.allow_private_urls)
    guarded_http.raise_for_status(response)
    items = parse_items(response.content, response.url, response.headers.get("content-type", ""))
    if tool_input.get("sinceLastRun"):
        items = [item for item in items if _is_new(item, ctx)]
    return ToolResult(output={"items": items[: tool_input.get("limit", DEFAULT_LIMIT)]})


def parse_items(content: bytes, url: str, content_type: str) -> list[dict[str, Any]]:
    """The items of a feed document, parsed from bytes."""
    import feedparser  # ~10 MiB, loaded by the first feed step rather than by every process

    # A file object, never bytes or a str: feedparser would fetch a URL or open a local path.
    feed = feedparser.parse(
        io.BytesIO(content), response_headers={"content-location": url, "content-type": content_type}
    )
    if not feed.get("version") and not feed.entries:
        raise ToolError(f"{url} is not an RSS or Atom feed")
    return [_item(entry) for entry in feed.entries]


def _item(entry: Any) -> dict[str, Any]:
    summary = entry.get("summary") or next((c.get("value", "") for c in entry.get("content", [])), "")
    return {
        "title": strip_tags(entry.get("title", ""), TITLE_CHARS),
        "link": entry.get("link", ""),
        "summary": strip_tags(summary, SUMMARY_CHARS),
        "published": _iso(entry.get("published_parsed") or entry.get("updated_parsed")),
    }


def _iso(parsed: Any) -> str | None:
    """feedparser's UTC struct_time as ISO 8601 UTC with a Z."""
    if not parsed:
        return None
    return iso(datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc), "auto")


def _is_new(item: dict[str, Any], ctx: ToolContext) -> bool:
    """Not a link the previous run used, and not older than its start (when both are known)."""
    if item["link"] and item["link"] in ctx.previous_run_links:
        return False
    since = ctx.previous_run_started_at
    if since is None or item["published"] is None:
        return True
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(item["published"].replace("Z", "+00:00")) > since


TOOL = Tool(
    name="fetch_feed",
    description="Fetch an RSS or Atom feed and return its latest items (title, link, summary, published).",
    input_schema=SCHEMA,
    needs_approval=False,
    delivery=Delivery.READ_ONLY,
    run=run,
    output_fields=("items",),
)
