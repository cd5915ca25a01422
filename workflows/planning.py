"""Planning a goal into steps with the model, validated exactly like user-written steps."""
from __future__ import annotations

from typing import Any

from workflows import definitions
from workflows.errors import Invalid, Unavailable
from workflows.manage import NO_LLM, Planner
from workflows.services import Services


def planner_for(services: Services) -> Planner | None:
    """A function goal -> steps, or None when no model is configured."""
    if services.llm is None:
        return None

    def plan(goal: str) -> list[dict[str, Any]]:
        from workflows.llm import LLMRefused, LLMUnavailable
        from workflows.planner import plan as ask_model

        try:
            steps, _usage = ask_model(goal, services.llm, definitions.step_problems)
        except (LLMUnavailable, LLMRefused) as exc:
            # Either way the server side must act (a key, a model name, a running server).
            raise Unavailable(f"the language model could not plan this goal: {exc}") from exc
        # Approval comes from the tool's policy, never from the model.
        return [{k: v for k, v in step.items() if k != "needsApproval"} for step in steps]

    return plan


def propose_plan(services: Services, data: Any) -> list[dict[str, Any]]:
    """`POST /api/workflows/plan`: a proposed plan with the tools' approval policy; nothing stored."""
    data = definitions.require_object(data)
    definitions.check_fields(data, {"goal"})
    goal = definitions.check_goal(data.get("goal"))
    planner = planner_for(services)
    if planner is None:
        raise Invalid(NO_LLM)
    specs = definitions.check_steps(planner(goal))
    return [
        {"index": i, "toolName": s.tool_name, "toolInput": s.tool_input,
         "instruction": s.instruction, "needsApproval": s.needs_approval}
        for i, s in enumerate(specs)
    ]
