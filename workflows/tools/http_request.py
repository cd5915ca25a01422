"""http_request: call a JSON webhook (Slack, Zapier, Make...) with an idempotency key."""
from __future__ import annotations

from typing import Any

from workflows.encoding import loads_strict
from workflows.errors import ToolError
from workflows.integrations import guarded_http
from workflows.tools.base import Delivery, Tool, ToolContext, ToolResult
from workflows.tools.schema import ONE_LINE, URL_SCHEMA

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_RESPONSE_BYTES = 64 * 1024
# Headers the transport owns, hop-by-hop headers, and our own idempotency key.
RESERVED_HEADERS = ["host", "content-length", "transfer-encoding", "connection", "keep-alive",
                    "upgrade", "te", "trailer", "proxy-authorization", "proxy-authenticate",
                    "proxy-connection", "expect", "idempotency-key"]
HEADER_NAME = "^(?!(?i:" + "|".join(RESERVED_HEADERS) + ")$)[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {**URL_SCHEMA, "description": "The webhook's URL."},
        "method": {"type": "string", "enum": METHODS, "default": "POST"},
        "json": {"description": "The JSON body to send (any JSON value)."},
        "headers": {
            "type": "object", "maxProperties": 20,
            "propertyNames": {"pattern": HEADER_NAME,
                              "x-message": "is not a header you can set (Host, Content-Length, "
                                           "Idempotency-Key and hop-by-hop headers are set by Stepwise)"},
            "additionalProperties": {"type": "string", "maxLength": 4000, "pattern": ONE_LINE,
                                     "x-message": "must be a single line"},
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


def run(tool_input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Send the request once per step: the receiver deduplicates on Idempotency-Key."""
    method = tool_input.get("method", "POST")
    headers = dict(tool_input.get("headers") or {})
    if any(name.lower() in RESERVED_HEADERS for name in headers):
        raise ToolError("toolInput.headers: Host, Content-Length, Idempotency-Key and hop-by-hop "
                        "headers are set by Stepwise", field="toolInput.headers")
    if "json" in tool_input and method == "GET":
        raise ToolError("toolInput.json: a GET request has no body; use POST", field="toolInput.json")
    headers["Idempotency-Key"] = ctx.dedup_id
    body = {"json": tool_input["json"]} if "json" in tool_input else {}
    response = guarded_http.fetch(
        tool_input["url"], method=method, headers=headers, allow_private=ctx.allow_private_urls,
        max_bytes=MAX_RESPONSE_BYTES, truncate=True, **body,
    )
    guarded_http.raise_for_status(response)
    return ToolResult(output={"status": response.status, "body": _body(response)})


def _body(response: guarded_http.HttpResponse) -> Any:
    """Parsed JSON when the response is complete JSON, else its text (at most 64 KB)."""
    text = response.text()
    if response.is_json() and not response.truncated:
        try:
            return loads_strict(text)  # NaN or 2**70 from a webhook must not poison the run's JSON
        except ValueError:
            pass
    return text


TOOL = Tool(
    name="http_request",
    description="Send a JSON request to a webhook (Slack, Zapier, Make...) and return its status and body.",
    input_schema=SCHEMA,
    needs_approval=True,
    delivery=Delivery.IDEMPOTENCY_KEY,
    run=run,
    output_fields=("status", "body"),
)
