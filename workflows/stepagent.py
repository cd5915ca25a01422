"""The runner's side of the step agent: call it, and sort its failures into retry or fail."""
from __future__ import annotations

import json
from typing import Any

from workflows.agent import AgentInvalidArguments, propose_input
from workflows.llm import LLMClient, LLMRefused, LLMUnavailable
from workflows.tools.base import Tool, ToolError, Usage


class AgentRetry(Exception):
    """A failure a retry may cure (model 429/5xx/timeout, invalid arguments)."""

    def __init__(self, message: str, retry_after: float | None = None,
                 messages: list[dict[str, Any]] | None = None, usage: Usage = Usage()) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.messages = messages or []  # the failed call and its error, kept in the conversation
        self.usage = usage


class AgentFailure(Exception):
    """A failure no retry can change (the model server refused; a fixed field is invalid)."""


def _declined(previous_proposal: dict[str, Any], tool: Tool, step_index: int) -> list[dict[str, Any]]:
    """The earlier proposal as the model's own call, answered "not run", before the feedback."""
    call_id = f"call_step_{step_index}_proposal"
    return [
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": tool.name, "arguments": json.dumps(previous_proposal)}}]},
        {"role": "tool", "tool_call_id": call_id,
         "content": "Not run: the reviewer asked for changes before approving."},
    ]


def fill_with_agent(llm: LLMClient, *, goal: str, tool: Tool, step_index: int, instruction: str,
                    fixed_input: dict[str, Any], conversation: list[dict[str, Any]],
                    feedback: str | None, previous_proposal: dict[str, Any] | None
                    ) -> tuple[dict[str, Any], Usage, dict[str, Any]]:
    """(input to use, usage, the assistant message to store with the tool's result)."""
    if feedback is not None and previous_proposal is not None:
        conversation = conversation + _declined(previous_proposal, tool, step_index)
    try:
        result = propose_input(llm=llm, goal=goal, tool=tool, step_index=step_index,
                               instruction=instruction, fixed_input=fixed_input,
                               conversation=conversation, feedback=feedback)
    except AgentInvalidArguments as exc:
        answer = {"role": "tool", "tool_call_id": exc.tool_call_id, "content": f"Error: {exc.message}"}
        raise AgentRetry(f"the model's arguments were invalid: {exc.message}",
                         messages=[exc.assistant_message, answer], usage=exc.usage) from exc
    except LLMUnavailable as exc:
        raise AgentRetry(f"the model is unavailable: {exc}", retry_after=exc.retry_after) from exc
    except (LLMRefused, ToolError) as exc:
        raise AgentFailure(str(exc)) from exc
    # Store the call with the input actually used (fixed fields included), so later steps see it.
    call = json.loads(json.dumps(result.assistant_message))
    call["tool_calls"][0]["function"]["arguments"] = json.dumps(result.input)
    return result.input, result.usage, call
