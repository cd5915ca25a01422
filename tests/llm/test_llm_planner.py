"""The planner: structured output, the forced-call fallback, one repair round, the prompt."""
from __future__ import annotations

import json
from typing import Any

import pytest

from workflows.authoring import planning
from workflows.errors import Invalid
from workflows.integrations.llm import LLMRefused
from workflows.tools import REGISTRY

GOAL = "Publish a weekly LinkedIn post about AI trends"
FEED = "https://news.example.com/ai.rss"
GOOD_PLAN = {"steps": [
    {"toolName": "fetch_feed", "toolInput": {"url": FEED, "limit": None, "sinceLastRun": True}, "instruction": ""},
    {"toolName": "write", "toolInput": {"instructions": "A LinkedIn post on this week's AI trends",
                                        "context": "{{ steps[0].output.items }}"}, "instruction": ""},
    {"toolName": "linkedin_post", "toolInput": {"text": None, "link": None, "linkTitle": None},
     "instruction": "Use the drafted post from step 1 as the text."},
]}
EXPECTED_STEPS = [
    {"toolName": "fetch_feed", "toolInput": {"url": FEED, "sinceLastRun": True}, "instruction": ""},
    {"toolName": "write", "toolInput": {"instructions": "A LinkedIn post on this week's AI trends",
                                        "context": "{{ steps[0].output.items }}"}, "instruction": ""},
    {"toolName": "linkedin_post", "toolInput": {}, "instruction": "Use the drafted post from step 1 as the text."},
]
BAD_PLAN = {"steps": [
    {"toolName": "fetch_feed", "toolInput": {"url": "not a url", "limit": None, "sinceLastRun": True},
     "instruction": ""},
    {"toolName": "write", "toolInput": {"instructions": "Post", "context": "{{ steps[1].output.items }}"},
     "instruction": ""},
]}
REJECTED = "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."


def objects(schema: Any):
    """Every object schema inside a schema."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            yield schema
        for value in schema.values():
            yield from objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from objects(value)


def test_plan_asks_for_strict_structured_output_with_tool_names_as_an_enum(fake, llm, validate):
    fake.enqueue_json(GOOD_PLAN, prompt_tokens=900, completion_tokens=120)

    steps, usage = planning.plan(GOAL, llm, validate)

    assert steps == EXPECTED_STEPS
    assert all("needsApproval" not in step for step in steps)
    assert (usage.prompt_tokens, usage.completion_tokens) == (900, 120)
    (request,) = fake.requests
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "plan"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    step = schema["properties"]["steps"]["items"]
    assert step["properties"]["toolName"] == {"type": "string", "enum": list(REGISTRY)}
    assert step["required"] == ["toolName", "toolInput", "instruction"]
    for obj in objects(schema):  # OpenAI's strict subset: closed objects, every field required
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert "x-message" not in json.dumps(schema) and '"format"' not in json.dumps(schema)
    system, user = request.messages
    assert system["role"] == "system" and user == {"role": "user", "content": f"Goal: {GOAL}"}
    assert "tools" not in request.body


def test_a_server_that_rejects_json_schema_gets_a_forced_submit_plan_call(fake, llm, validate):
    fake.enqueue_error(400, REJECTED, param="response_format")
    fake.enqueue_tool_call("submit_plan", GOOD_PLAN, prompt_tokens=50, completion_tokens=20)

    steps, usage = planning.plan(GOAL, llm, validate)

    assert steps == EXPECTED_STEPS
    assert usage.prompt_tokens == 50
    first, second = fake.requests
    assert "response_format" in first.body
    assert "response_format" not in second.body
    (tool,) = second.body["tools"]
    assert tool["function"]["name"] == "submit_plan"
    assert tool["function"]["strict"] is True
    assert tool["function"]["parameters"] == first.body["response_format"]["json_schema"]["schema"]
    assert second.body["tool_choice"] == {"type": "function", "function": {"name": "submit_plan"}}
    assert second.messages == first.messages


def test_a_reply_that_is_not_json_falls_back_to_the_forced_call(fake, llm, validate):
    fake.enqueue_text("Sure! First, fetch a feed about AI...", prompt_tokens=30, completion_tokens=10)
    fake.enqueue_tool_call("submit_plan", json.dumps(GOOD_PLAN), prompt_tokens=40, completion_tokens=20)

    steps, usage = planning.plan(GOAL, llm, validate)

    assert steps == EXPECTED_STEPS
    assert (usage.prompt_tokens, usage.completion_tokens) == (70, 30)  # the wasted call counts too
    assert fake.requests[1].body["tools"][0]["function"]["name"] == "submit_plan"


def test_a_fenced_json_reply_is_read(fake, llm, validate):
    fake.enqueue_text("```json\n" + json.dumps(GOOD_PLAN) + "\n```")

    assert planning.plan(GOAL, llm, validate)[0] == EXPECTED_STEPS
    assert len(fake.requests) == 1


def test_other_refusals_are_not_retried_as_a_fallback(fake, llm, validate):
    fake.enqueue_error(401, "Incorrect API key provided")

    with pytest.raises(LLMRefused, match=r"\(401\): Incorrect API key provided"):
        planning.plan(GOAL, llm, validate)
    assert len(fake.requests) == 1


def test_an_invalid_plan_gets_one_repair_round_then_is_invalid(fake, llm, validate):
    fake.enqueue_json(BAD_PLAN, prompt_tokens=100, completion_tokens=10)
    fake.enqueue_json(BAD_PLAN, prompt_tokens=200, completion_tokens=10)

    with pytest.raises(Invalid) as caught:
        planning.plan(GOAL, llm, validate)

    assert caught.value.field == "steps"
    assert caught.value.status == 422
    assert "steps[0].toolInput.url: must be an http or https URL" in caught.value.message
    assert "steps[1].toolInput.context: steps[1] refers to the current or a later step" in caught.value.message
    assert len(fake.requests) == 2  # exactly one repair round
    repair = fake.requests[1].messages
    assert repair[:2] == fake.requests[0].messages
    assert repair[2] == {"role": "assistant", "content": json.dumps(BAD_PLAN)}
    assert repair[3]["role"] == "user"
    assert "- steps[0].toolInput.url: must be an http or https URL" in repair[3]["content"]
    assert "response_format" in fake.requests[1].body


def test_a_plan_repaired_in_the_second_round_is_returned(fake, llm, validate):
    fake.enqueue_json(BAD_PLAN, prompt_tokens=100, completion_tokens=10)
    fake.enqueue_json(GOOD_PLAN, prompt_tokens=200, completion_tokens=30)

    steps, usage = planning.plan(GOAL, llm, validate)

    assert steps == EXPECTED_STEPS
    assert (usage.prompt_tokens, usage.completion_tokens) == (300, 40)
    assert usage.cost_usd == pytest.approx((300 * 0.15 + 40 * 0.60) / 1_000_000)


def test_repair_in_tool_mode_answers_the_call_with_the_errors(fake, llm, validate):
    fake.enqueue_error(400, REJECTED)
    fake.enqueue_tool_call("submit_plan", BAD_PLAN, call_id="call_plan1")
    fake.enqueue_tool_call("submit_plan", GOOD_PLAN, call_id="call_plan2")

    assert planning.plan(GOAL, llm, validate)[0] == EXPECTED_STEPS

    repair = fake.requests[2].messages
    assert repair[2]["tool_calls"][0]["id"] == "call_plan1"
    assert repair[3]["role"] == "tool" and repair[3]["tool_call_id"] == "call_plan1"
    assert "steps[0].toolInput.url" in repair[3]["content"]


def test_a_reply_without_steps_is_repaired_like_an_invalid_plan(fake, llm, validate):
    fake.enqueue_json({"plan": "fetch, write, post"})
    fake.enqueue_json({"steps": []})

    with pytest.raises(Invalid, match="the plan has no steps"):
        planning.plan(GOAL, llm, validate)
    assert 'of the form {"steps": [...]}' in fake.requests[1].messages[-1]["content"]


def test_fields_carried_as_json_text_come_back_as_json(fake, llm, validate):
    webhook = {"toolName": "http_request", "instruction": "",
               "toolInput": {"url": "https://hooks.example.com/x", "method": "POST",
                             "json": '{"text": "{{ steps[1].output.text }}"}', "headers": None}}
    fake.enqueue_json({"steps": [*GOOD_PLAN["steps"][:2], webhook]})

    steps, _ = planning.plan(GOAL, llm, validate)

    assert steps[2]["toolInput"] == {"url": "https://hooks.example.com/x", "method": "POST",
                                     "json": {"text": "{{ steps[1].output.text }}"}}
    schema = fake.requests[0].body["response_format"]["json_schema"]["schema"]
    branches = schema["properties"]["steps"]["items"]["properties"]["toolInput"]["anyOf"]
    http = next(b for b in branches if b["description"] == "The input of http_request.")
    assert http["properties"]["json"]["type"] == ["string", "null"]
    assert http["properties"]["method"]["enum"][-1] is None


def test_the_prompt_describes_every_registered_tool_and_the_conventions():
    prompt = planning.system_prompt(REGISTRY)

    for tool in REGISTRY.values():
        assert f"## {tool.name} (" in prompt and tool.description in prompt
    assert "## send_email (side effect" in prompt and "## fetch_feed (read-only)" in prompt
    assert "{{ steps[0].output.items }}" in prompt
    assert '"sinceLastRun": true' in prompt
    assert "come last" in prompt and "never more than 20" in prompt
    assert "x-message" not in prompt


def test_the_prompt_is_built_from_the_registry_not_hard_coded():
    registry = {name: REGISTRY[name] for name in ("fetch_feed", "write", "send_email")}

    prompt = planning.system_prompt(registry)

    assert "linkedin_post" not in prompt and "http_request" not in prompt
    assert "Tools with side effects (send_email)" in prompt
    assert "ada@example.com" in prompt  # the example that needs only these tools stays
    assert planning.plan_schema(registry)["properties"]["steps"]["items"]["properties"]["toolName"]["enum"] == \
        ["fetch_feed", "write", "send_email"]


def test_no_llm_message_names_the_variables():
    assert "OPENAI_API_KEY" in planning.NO_LLM_MESSAGE and "OPENAI_BASE_URL" in planning.NO_LLM_MESSAGE


def test_a_structured_refusal_is_refused(fake, llm, validate):
    fake.enqueue_text(None, refusal="I can't help with that.")

    with pytest.raises(LLMRefused, match="declined to plan this goal: I can't help with that."):
        planning.plan(GOAL, llm, validate)
