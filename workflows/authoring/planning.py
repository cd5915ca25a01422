"""Planning: the model proposes a workflow's steps for a goal, checked like user-written steps.

Structured output first (`response_format` json_schema, strict, tool names an enum of the
registry); a server that rejects it gets the same schema as a forced `submit_plan` call. An
invalid plan goes back once with what was wrong; still invalid is an `Invalid` on "steps".
`needsApproval` is never asked of the model: the caller applies each tool's policy.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from workflows.authoring import definitions
from workflows.authoring.serialize import step_json
from workflows.encoding import loads_strict
from workflows.errors import Invalid, Unavailable
from workflows.integrations.llm import (
    NO_LLM_MESSAGE,
    LLMClient,
    LLMRefused,
    LLMUnavailable,
    forced,
    function_tool,
    wire_schema,
)
from workflows.ports import Services
from workflows.tools import REGISTRY
from workflows.tools.base import Delivery, Tool
from workflows.usage import Usage

__all__ = ["NO_LLM_MESSAGE", "Planner", "plan", "plan_schema", "planner_for", "propose_plan", "system_prompt"]

MAX_ERRORS_SHOWN = 10
SUBMIT_PLAN = "submit_plan"
SCALARS = {"string", "integer", "number", "boolean"}
REJECTS_JSON_SCHEMA = re.compile(r"response_format|json_schema", re.IGNORECASE)
FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)

Planner = Callable[[str], list[dict[str, Any]]]
Validate = Callable[[list[dict[str, Any]]], list[tuple[str, str]]]

# Example plans, shown only when every tool they use is registered.
EXAMPLES: list[tuple[str, list[dict[str, Any]]]] = [
    ("Publish a weekly LinkedIn post about AI trends", [
        {"toolName": "fetch_feed", "toolInput": {
            "url": "https://news.mit.edu/rss/topic/artificial-intelligence2", "limit": 10,
            "sinceLastRun": True}, "instruction": ""},
        {"toolName": "write", "toolInput": {
            "instructions": "A LinkedIn post of 120-200 words on this week's most important AI "
                            "trends, professional and friendly, ending with a question to the reader.",
            "context": "{{ steps[0].output.items }}"}, "instruction": ""},
        {"toolName": "linkedin_post", "toolInput": {"text": "{{ steps[1].output.text }}"}, "instruction": ""},
    ]),
    ("Every morning email ada@example.com a digest of the Hacker News front page", [
        {"toolName": "fetch_feed", "toolInput": {"url": "https://hnrss.org/frontpage", "limit": 15,
                                                 "sinceLastRun": True}, "instruction": ""},
        {"toolName": "write", "toolInput": {
            "instructions": "A short digest: one line per story with its link, most interesting first.",
            "context": "{{ steps[0].output.items }}"}, "instruction": ""},
        {"toolName": "send_email", "toolInput": {"to": "ada@example.com", "body": "{{ steps[1].output.text }}"},
         "instruction": "Write a subject line that names the most interesting story of the digest."},
    ]),
]


def plan(goal: str, llm: LLMClient, validate: Validate) -> tuple[list[dict[str, Any]], Usage]:
    """Steps `[{toolName, toolInput, instruction}]` for the goal, and what asking cost."""
    schema = plan_schema(REGISTRY)
    messages = [{"role": "system", "content": system_prompt(REGISTRY)},
                {"role": "user", "content": f"Goal: {goal}"}]
    value, reply, usage, structured = _ask(llm, messages, schema, structured=True)
    if structured and value is None:  # the server ignored the schema: ask for the forced call
        value, reply, more, structured = _ask(llm, messages, schema, structured=False)
        usage += more
    steps, errors = _check(value, validate)
    if not errors:
        return steps, usage
    messages += _repair_messages(reply, errors)
    value, reply, more, structured = _ask(llm, messages, schema, structured=structured)
    usage += more
    steps, errors = _check(value, validate)
    if errors:
        shown = "; ".join(f"{where}: {what}" for where, what in errors[:MAX_ERRORS_SHOWN])
        more_count = len(errors) - MAX_ERRORS_SHOWN
        if more_count > 0:
            shown += f" (and {more_count} more)"
        raise Invalid(f"The model could not propose a valid plan for this goal: {shown}. "
                      "Rephrase the goal, or write the steps yourself.", field="steps")
    return steps, usage


def _ask(llm: LLMClient, messages: list[dict[str, Any]], schema: dict[str, Any],
         structured: bool) -> tuple[Any, dict[str, Any], Usage, bool]:
    """One request: (parsed plan or None, assistant message, usage, still structured?)."""
    if structured:
        try:
            reply, usage = llm.chat(messages, response_format={
                "type": "json_schema", "json_schema": {"name": "plan", "strict": True, "schema": schema}})
        except LLMRefused as exc:
            if exc.status not in (400, 422) or not REJECTS_JSON_SCHEMA.search(str(exc)):
                raise
            return _ask(llm, messages, schema, structured=False)
        _refuse_if_refused(reply)
        return _parse(reply.get("content")), reply, usage, True
    tool = function_tool(SUBMIT_PLAN, "Submit the workflow plan.", schema, strict=True)
    reply, usage = llm.chat(messages, tools=[tool], tool_choice=forced(SUBMIT_PLAN))
    _refuse_if_refused(reply)
    calls = reply.get("tool_calls") or []
    return (_parse(calls[0]["function"]["arguments"]) if calls else None), reply, usage, False


def _refuse_if_refused(reply: dict[str, Any]) -> None:
    if reply.get("refusal"):
        raise LLMRefused(f"the model declined to plan this goal: {reply['refusal']}")


def _parse(text: Any) -> Any:
    """JSON from a reply, tolerating a Markdown code fence around it; None when it is not JSON."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    fenced = FENCE.match(text)
    try:
        value = loads_strict(fenced.group(1) if fenced else text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _check(value: Any, validate: Validate) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The plan's steps in our shape, and what is wrong with them."""
    if not isinstance(value, dict) or not isinstance(value.get("steps"), list):
        return [], [("steps", 'the reply was not a JSON object of the form {"steps": [...]}')]
    steps = [_step(raw) for raw in value["steps"]]
    if not steps:
        return [], [("steps", "the plan has no steps")]
    return steps, validate(steps)


def _step(raw: Any) -> Any:
    """One step as {toolName, toolInput, instruction}, nulls dropped (left for the step agent)."""
    if not isinstance(raw, dict):
        return raw  # validate says what is wrong with it
    name = raw.get("toolName")
    tool = REGISTRY.get(name) if isinstance(name, str) else None
    tool_input = raw.get("toolInput")
    if isinstance(tool_input, str) and _parse(tool_input) is not None:
        tool_input = _parse(tool_input)
    if isinstance(tool_input, dict):
        tool_input = {k: _decode(tool, k, v) for k, v in tool_input.items() if v is not None}
    return {"toolName": name, "toolInput": tool_input if tool_input is not None else {},
            "instruction": raw.get("instruction") or ""}


def _decode(tool: Tool | None, name: str, value: Any) -> Any:
    """A field the strict schema carried as JSON text, back to its JSON value."""
    if tool is None or not isinstance(value, str) or name not in _json_text_fields(tool):
        return value
    try:
        return loads_strict(value)
    except ValueError:
        return value  # a template, or a mistake validate will name


def _repair_messages(reply: dict[str, Any], errors: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The plan as the model sent it, then what was wrong with it."""
    problems = "\n".join(f"- {where}: {what}" for where, what in errors)
    text = f"That plan was not accepted:\n{problems}\nSend the corrected complete plan."
    calls = reply.get("tool_calls") or []
    sent = {"role": "assistant", "content": reply.get("content")}
    if not calls:
        # An assistant message needs content when it has no tool calls.
        return [{**sent, "content": sent["content"] or ""}, {"role": "user", "content": text}]
    # Every tool call must be answered by a tool message before the conversation goes on.
    return [{**sent, "tool_calls": calls},
            *({"role": "tool", "tool_call_id": call["id"], "content": text} for call in calls)]


# -- the schema ------------------------------------------------------------------------------

def _field_kind(prop: dict[str, Any]) -> str:
    """How a tool input field travels in the strict schema: "plain", or "json" text."""
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "enum" in prop or (types and set(types) <= SCALARS) or "string" in types:
        return "plain"
    if types == ["array"] and prop.get("items", {}).get("type") in SCALARS:
        return "plain"
    return "json"  # any JSON value or a free-form object: strict mode cannot describe it


def _json_text_fields(tool: Tool) -> set[str]:
    props = tool.input_schema.get("properties", {})
    return {name for name, prop in props.items() if _field_kind(prop) == "json"}


def _strict_field(prop: dict[str, Any]) -> dict[str, Any]:
    """One field for strict mode: nullable (null = the step agent fills it), no unsupported keywords."""
    description = prop.get("description", "")
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "enum" in prop:
        field = {"type": [types[0] if types else "string", "null"], "enum": [*prop["enum"], None]}
    elif types and set(types) <= SCALARS:
        field = {"type": [*types, "null"]}
    elif _field_kind(prop) == "plain" and types == ["array"]:
        field = {"type": ["array", "null"], "items": {"type": prop["items"]["type"]}}
    elif "string" in types:
        field = {"type": ["string", "null"]}
    else:
        field = {"type": ["string", "null"]}
        description = (description + " Give it as JSON text.").strip()
    return {**field, "description": description} if description else field


def _strict_input(tool: Tool) -> dict[str, Any]:
    props = tool.input_schema.get("properties", {})
    return {"type": "object", "description": f"The input of {tool.name}.",
            "properties": {name: _strict_field(prop) for name, prop in props.items()},
            "required": list(props), "additionalProperties": False}


def plan_schema(registry: dict[str, Tool]) -> dict[str, Any]:
    """The JSON Schema of a plan in OpenAI's strict subset: every object closed, every field required."""
    step = {
        "type": "object",
        "properties": {
            "toolName": {"type": "string", "enum": list(registry)},
            "toolInput": {"anyOf": [_strict_input(tool) for tool in registry.values()]},
            "instruction": {"type": "string", "description": "What the step agent fills in at run "
                                                             "time; empty when toolInput is complete."},
        },
        "required": ["toolName", "toolInput", "instruction"],
        "additionalProperties": False,
    }
    return {"type": "object", "properties": {"steps": {"type": "array", "items": step}},
            "required": ["steps"], "additionalProperties": False}


# -- the prompt ------------------------------------------------------------------------------

def _has_side_effects(tool: Tool) -> bool:
    return tool.needs_approval or tool.delivery != Delivery.READ_ONLY


def _describe(tool: Tool) -> str:
    effect = ("side effect; a person approves it before it runs" if _has_side_effects(tool)
              else "read-only")
    schema = json.dumps(wire_schema(tool.input_schema), ensure_ascii=False, separators=(",", ":"))
    outputs = ", ".join(tool.output_fields) or "(none)"
    return (f"## {tool.name} ({effect})\n{tool.description}\n"
            f"Input (JSON Schema): {schema}\nOutput fields: {outputs}")


def system_prompt(registry: dict[str, Tool]) -> str:
    """What the planner model is told: the tools of the registry and the conventions."""
    side_effects = [name for name, tool in registry.items() if _has_side_effects(tool)]
    conventions = [
        "Steps are numbered from 0. A string in toolInput may use an earlier step's output with a "
        "reference: \"{{ steps[0].output.items }}\" as the whole value keeps its type; inside text, "
        "\"Top story: {{ steps[0].output.items[0].title }}\". Only earlier steps: step 2 may use "
        "steps[0] and steps[1], never itself or a later step. Use the output fields listed above.",
        "toolInput holds the values known now. Set a field to null when it can only be decided when "
        "the step runs, and say in instruction what the step agent should fill in and from what "
        "(it sees the goal and the earlier steps' results, and fills only the empty fields). Leave "
        "instruction empty when toolInput is complete.",
    ]
    if "fetch_feed" in registry:
        conventions.append("For a recurring digest (anything daily or weekly about news or a topic), "
                           "use fetch_feed with \"sinceLastRun\": true, so a run never repeats what "
                           "the previous one used.")
    if side_effects:
        conventions.append(f"Tools with side effects ({', '.join(side_effects)}) come last, after the "
                           "steps that prepare what they send or publish.")
    conventions += [
        f"Keep the plan short: the fewest steps that reach the goal, never more than {definitions.MAX_STEPS}.",
        "Use only the addresses, URLs and names the goal gives, or well-known public feeds that "
        "match it; never invent an email address.",
    ]
    examples = [
        f"Goal: {goal}\n" + json.dumps({"steps": steps}, ensure_ascii=False)
        for goal, steps in EXAMPLES if all(step["toolName"] in registry for step in steps)
    ]
    parts = [
        "You plan workflows for Stepwise. A person states a goal; you reply with the steps that reach "
        "it. A workflow runs on a schedule or on demand; its steps run in order, each calls one tool, "
        "and each step's output stays available to the later steps.",
        "# Tools\n" + "\n\n".join(_describe(tool) for tool in registry.values()),
        "# Conventions\n" + "\n".join(f"- {line}" for line in conventions),
    ]
    if examples:
        parts.append("# Examples\n" + "\n\n".join(examples))
    parts.append('Reply with the plan only, as JSON: {"steps": [{"toolName": ..., "toolInput": {...}, '
                 '"instruction": ...}]}.')
    return "\n\n".join(parts)


def planner_for(services: Services) -> Planner | None:
    """A function goal -> steps, or None when no model is configured."""
    if services.llm is None:
        return None

    def plan_goal(goal: str) -> list[dict[str, Any]]:
        try:
            steps, _usage = plan(goal, services.llm, definitions.step_problems)
        except (LLMUnavailable, LLMRefused) as exc:
            # Either way the server side must act (a key, a model name, a running server).
            raise Unavailable(f"the language model could not plan this goal: {exc}") from exc
        # Approval comes from the tool's policy, never from the model.
        return [{k: v for k, v in step.items() if k != "needsApproval"} for step in steps]

    return plan_goal


def propose_plan(services: Services, data: Any) -> list[dict[str, Any]]:
    """`POST /api/workflows/plan`: a proposed plan with the tools' approval policy; nothing stored."""
    data = definitions.require_object(data)
    definitions.check_fields(data, {"goal"})
    goal = definitions.check_goal(data.get("goal"))
    planner = planner_for(services)
    if planner is None:
        raise Invalid(NO_LLM_MESSAGE)
    return [step_json(i, spec) for i, spec in enumerate(definitions.check_steps(planner(goal)))]
