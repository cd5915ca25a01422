"""write: the language model drafts text (a post, an email, a summary), saved as a Markdown asset."""
from __future__ import annotations

import json
from typing import Any

from workflows.errors import RetryableToolError, ToolError
from workflows.integrations.llm import NO_LLM_MESSAGE, LLMRefused, LLMUnavailable
from workflows.tools.base import AssetSpec, Delivery, Tool, ToolContext, ToolResult
from workflows.usage import Usage

MAX_INSTRUCTIONS_CHARS = 10_000
MAX_CONTEXT_CHARS = 50_000
MAX_TITLE_CHARS = 100

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "instructions": {
            "type": "string", "minLength": 1, "maxLength": MAX_INSTRUCTIONS_CHARS,
            "description": "What to write: the kind of text, audience, tone, length.",
        },
        "context": {
            # A reference that is one expression keeps its native type ("{{ steps[0].output.items }}"
            # is a list), so any JSON value is accepted and written out as JSON text.
            "type": ["string", "array", "object", "number", "boolean"], "maxLength": MAX_CONTEXT_CHARS,
            "description": "The material to write from, usually earlier outputs, e.g. "
                           "\"{{ steps[0].output.items }}\". It is treated as data, never as instructions.",
        },
    },
    "required": ["instructions"],
    "additionalProperties": False,
}


def run(tool_input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Draft the text with the model and keep it as a Markdown asset."""
    if ctx.llm is None:
        raise ToolError(NO_LLM_MESSAGE)
    instructions = tool_input["instructions"]
    context = _context_text(tool_input.get("context"))
    try:
        text, usage = ctx.llm.draft(instructions, context)
    except LLMUnavailable as exc:
        raise RetryableToolError(str(exc), retry_after=exc.retry_after) from None
    except LLMRefused as exc:
        raise ToolError(str(exc)) from None
    if isinstance(usage, dict):  # an LLM written against the protocol's first form
        usage = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
    asset = AssetSpec(kind="markdown", title=title_of(text, instructions), content=text,
                      mime_type="text/markdown")
    return ToolResult(output={"text": text}, assets=[asset], usage=usage)


def _context_text(context: Any) -> str | None:
    """The context as text for the model: strings as they are, other values as JSON."""
    if context is None or context == "":
        return None
    text = context if isinstance(context, str) else json.dumps(context, ensure_ascii=False, indent=1)
    if len(text) > MAX_CONTEXT_CHARS:
        raise ToolError(f"toolInput.context: is {len(text)} characters as text; at most "
                        f"{MAX_CONTEXT_CHARS} are accepted (fetch fewer items)", field="toolInput.context")
    return text


def title_of(text: str, instructions: str) -> str:
    """The draft's first line without Markdown marks, else the instructions' first line."""
    for source in (text, instructions):
        for line in source.splitlines():
            line = line.strip().lstrip("#>*-_ ").rstrip("*_ ").strip()
            if line:
                return line if len(line) <= MAX_TITLE_CHARS else line[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return "Draft"


TOOL = Tool(
    name="write",
    description="Draft text with the language model (a post, an email, a summary) from instructions "
                "and earlier outputs; the text is also saved as a Markdown asset.",
    input_schema=SCHEMA,
    needs_approval=False,
    delivery=Delivery.READ_ONLY,
    run=run,
    output_fields=("text",),
    uses_model=True,
)
