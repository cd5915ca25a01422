"""A run's conversation with the model: load it, append to it, and the synthetic tool exchange.

Every step appends its tool call and result, whether or not an agent chose them, so a later
agent step sees what ran before it (docs/architecture.md, *The step lifecycle*).
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from models import Message
from workflows.engine.attempt import Attempt, connection

MAX_RESULT_CHARS = 100_000
_messages = Message.__table__

_LOAD = (
    sa.select(_messages.c.role, _messages.c.content, _messages.c.tool_calls, _messages.c.tool_call_id)
    .where(_messages.c.conversation_id == sa.bindparam("conversation_id"))
    .order_by(_messages.c.position)
)

# Each row takes the next position itself: executed once per message (executemany), every
# execution sees the rows before it, so no separate max(position) read is needed.
_APPEND = sa.insert(_messages).from_select(
    ["conversation_id", "position", "role", "content", "tool_calls", "tool_call_id", "step_index",
     "created_at"],
    sa.select(
        sa.bindparam("b_conversation_id", type_=_messages.c.conversation_id.type),
        sa.func.coalesce(sa.func.max(_messages.c.position), -1) + 1,
        sa.bindparam("b_role", type_=_messages.c.role.type),
        sa.bindparam("b_content", type_=_messages.c.content.type),
        sa.bindparam("b_tool_calls", type_=_messages.c.tool_calls.type),
        sa.bindparam("b_tool_call_id", type_=_messages.c.tool_call_id.type),
        sa.bindparam("b_step_index", type_=_messages.c.step_index.type),
        sa.bindparam("b_created_at", type_=_messages.c.created_at.type),
    ).where(_messages.c.conversation_id == sa.bindparam("b_conversation_id")),
)


def load(conversation_id: str) -> list[dict[str, Any]]:
    """The conversation so far, in the wire shape of Chat Completions."""
    messages = []
    for row in connection().execute(_LOAD, {"conversation_id": conversation_id}):
        message: dict[str, Any] = {"role": row.role, "content": row.content}
        if row.tool_calls:
            message["tool_calls"] = row.tool_calls
        if row.tool_call_id:
            message["tool_call_id"] = row.tool_call_id
        messages.append(message)
    return messages


def append(attempt: Attempt, messages: list[dict[str, Any]], now: Any) -> None:
    """Append messages to the run's conversation, in order, in the caller's transaction."""
    if not messages:
        return
    connection().execute(_APPEND, [{
        "b_conversation_id": attempt.conversation_id, "b_role": m["role"], "b_content": m.get("content"),
        "b_tool_calls": m.get("tool_calls"), "b_tool_call_id": m.get("tool_call_id"),
        "b_step_index": attempt.step_index, "b_created_at": now,
    } for m in messages])


def tool_exchange(step_index: int, tool_name: str, tool_input: dict, output: Any, call: dict | None) -> list[dict]:
    """The assistant's tool call and the tool's result, as conversation messages.

    Without an agent the call is synthetic, so a later agent step still sees what ran.
    """
    if call is None:
        call = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{
                "id": f"call_step_{step_index}",
                "type": "function",
                "function": {"name": tool_name, "arguments": json.dumps(tool_input)},
            }],
        }
    call_id = call["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": call_id, "content": json.dumps(output)[:MAX_RESULT_CHARS]}
    return [call, result]
