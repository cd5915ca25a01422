"""compose: text from a Jinja template over earlier steps' outputs (no language model)."""
from __future__ import annotations

from typing import Any

from workflows.engine import references
from workflows.tools.base import Delivery, Tool, ToolContext, ToolResult

MAX_TEMPLATE_CHARS = 20_000

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "template": {
            "type": "string", "minLength": 1, "maxLength": MAX_TEMPLATE_CHARS,
            "description": "A Jinja template; it may use steps[i].output of earlier steps, workflow, run and now.",
        },
    },
    "required": ["template"],
    "additionalProperties": False,
}


def run(tool_input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Render the template over the run's earlier outputs."""
    text = references.render_template(tool_input["template"], references.namespace(ctx))
    return ToolResult(output={"text": text})


TOOL = Tool(
    name="compose",
    description="Write text from a Jinja template over earlier steps' outputs, without a language model.",
    input_schema=SCHEMA,
    needs_approval=False,
    delivery=Delivery.READ_ONLY,
    run=run,
    output_fields=("text",),
    raw_fields=("template",),
)
