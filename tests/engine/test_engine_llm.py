"""The model in the engine, end to end: the real `openai` client against a scripted server.

Assertions are on the requests the scripted server received, and on what the runs did.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from extensions import db
from models import Message, Outbox, Workflow
from tests.engine.conftest import compose
from tests.support.qstash_server import free_port
from workflows.integrations import linkedin


@pytest.fixture
def llm_stack(make_stack, fake):
    return make_stack(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", LLM_MODEL="gpt-4o-mini")


EMAIL_STEP = {"toolName": "send_email", "toolInput": {"to": "boss@example.com"},
              "instruction": "Email the boss a two-line summary of the news"}


def _email_workflow(stack) -> dict[str, Any]:
    return stack.create_workflow(goal="Brief the boss", steps=[compose("Markets rallied today."), EMAIL_STEP])


def test_agent_sends_one_forced_tool_and_the_earlier_results(llm_stack, fake):
    fake.enqueue_tool_call("send_email", {"subject": "News", "body": "Markets rallied."}, prompt_tokens=100, completion_tokens=20)
    workflow = _email_workflow(llm_stack)
    approval = llm_stack.wait_approval(llm_stack.run_now(workflow["id"]))
    assert approval["proposedInput"] == {"to": "boss@example.com", "subject": "News", "body": "Markets rallied."}
    (request,) = fake.requests
    body = request.body
    assert [t["function"]["name"] for t in body["tools"]] == ["send_email"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "send_email"}}
    tool_results = [m for m in body["messages"] if m["role"] == "tool"]
    assert tool_results and "Markets rallied today." in tool_results[0]["content"]
    assert all("Markets rallied today." not in (m.get("content") or "")
               for m in body["messages"] if m["role"] in ("system", "user")), "fetched data must stay a tool result"


def test_agent_arguments_never_override_fixed_fields(llm_stack, fake):
    fake.enqueue_tool_call("send_email", {"to": "attacker@evil.example", "subject": "S", "body": "B"})
    workflow = _email_workflow(llm_stack)
    approval = llm_stack.wait_approval(llm_stack.run_now(workflow["id"]))
    assert approval["proposedInput"]["to"] == "boss@example.com"


def test_invalid_arguments_are_retried_with_the_error_in_the_conversation(llm_stack, fake):
    fake.enqueue_tool_call("send_email", {"subject": "x" * 500, "body": "B"}, call_id="call_bad")
    fake.enqueue_tool_call("send_email", {"subject": "Fixed", "body": "B"}, call_id="call_good")
    workflow = _email_workflow(llm_stack)
    run_id = llm_stack.run_now(workflow["id"])
    approval = llm_stack.wait_approval(run_id)
    assert approval["proposedInput"]["subject"] == "Fixed"
    assert len(fake.requests) == 2
    second = fake.requests[1].body["messages"]
    errors = [m for m in second if m["role"] == "tool" and m.get("tool_call_id") == "call_bad"]
    assert errors and "subject" in errors[0]["content"]
    assert llm_stack.run(run_id)["steps"][1]["attempts"] == 2


def test_model_429_with_retry_after_is_retried_and_completes(llm_stack, fake):
    fake.enqueue_error(429, "Rate limit reached", headers={"Retry-After": "1"})
    fake.enqueue_tool_call("send_email", {"subject": "S", "body": "B"})
    workflow = _email_workflow(llm_stack)
    run_id = llm_stack.run_now(workflow["id"])
    approval = llm_stack.wait_approval(run_id)
    assert approval["proposedInput"]["subject"] == "S"
    assert len(fake.requests) == 2
    assert llm_stack.run(run_id)["steps"][1]["attempts"] == 2


def test_model_401_fails_the_step_with_a_readable_error(llm_stack, fake):
    fake.enqueue_error(401, "Incorrect API key provided", type="invalid_request_error")
    workflow = _email_workflow(llm_stack)
    run = llm_stack.wait_run(llm_stack.run_now(workflow["id"]))
    assert run["status"] == "failed" and "Incorrect API key provided" in run["steps"][1]["error"]
    assert len(fake.requests) == 1


def test_revise_sends_the_feedback_and_proposes_again(llm_stack, fake):
    fake.enqueue_tool_call("send_email", {"subject": "Long subject", "body": "A very long body"})
    fake.enqueue_tool_call("send_email", {"subject": "Short", "body": "Short body"})
    workflow = _email_workflow(llm_stack)
    run_id = llm_stack.run_now(workflow["id"])
    first = llm_stack.wait_approval(run_id)
    llm_stack.decide(first["id"], decision="revise", feedback="Make it shorter please")
    assert llm_stack.wait_approval(run_id)["proposedInput"]["subject"] == "Short"
    messages = fake.requests[1].body["messages"]
    assert messages[-1]["role"] == "user" and "Make it shorter please" in messages[-1]["content"]
    assert any(m["role"] == "assistant" and "Long subject" in json.dumps(m.get("tool_calls")) for m in messages)


def test_edit_before_approve_runs_the_edited_input_without_asking_the_model_again(llm_stack, fake):
    fake.enqueue_tool_call("send_email", {"subject": "Model subject", "body": "Model body"})
    workflow = _email_workflow(llm_stack)
    run_id = llm_stack.run_now(workflow["id"])
    approval = llm_stack.wait_approval(run_id)
    edited = {"to": "boss@example.com", "subject": "Human subject", "body": "Human body"}
    assert llm_stack.decide(approval["id"], decision="approve", toolInput=edited).status_code == 200
    run = llm_stack.wait_run(run_id)
    assert run["status"] == "completed" and run["steps"][1]["input"] == edited
    assert len(fake.requests) == 1  # the decided input is used verbatim: no agent on resume
    with llm_stack.db():
        email = db.session.scalar(sa.select(Outbox).where(Outbox.dedup_key.like(f"wf-%-run-{run_id}-step-1")))
        assert email.subject == "Human subject" and email.to == "boss@example.com"


def test_tokens_and_cost_are_recorded_per_step_and_summed_on_the_run(llm_stack, fake):
    fake.enqueue_tool_call("write", {"instructions": "Write a haiku"}, prompt_tokens=1000, completion_tokens=100)
    fake.enqueue_text("Autumn wind\nthe build is green\nship it", prompt_tokens=2000, completion_tokens=300)
    workflow = llm_stack.create_workflow(goal="A haiku", steps=[
        {"toolName": "write", "toolInput": {}, "instruction": "Ask for a haiku about shipping"}])
    run = llm_stack.wait_run(llm_stack.run_now(workflow["id"]))
    assert run["status"] == "completed", run
    assert run["steps"][0]["output"]["text"].startswith("Autumn wind")
    assert run["steps"][0]["promptTokens"] == 3000 and run["steps"][0]["completionTokens"] == 400
    assert run["promptTokens"] == 3000 and run["completionTokens"] == 400
    expected = (3000 * 0.15 + 400 * 0.60) / 1_000_000
    assert run["costUsd"] == pytest.approx(expected, rel=1e-3)
    assert run["assets"] and run["assets"][0]["mimeType"] == "text/markdown"
    with llm_stack.db():
        roles = db.session.scalars(sa.select(Message.role).order_by(Message.position)).all()
    assert roles == ["assistant", "tool"]


def test_plan_for_a_goal_is_stored_with_tool_policy_approvals(llm_stack, fake):
    fake.enqueue_json({"steps": [
        {"toolName": "compose", "toolInput": {"template": "Hello"}, "instruction": None},
        {"toolName": "http_request", "toolInput": {"url": "https://hooks.example/x", "json": None,
                                                   "method": None, "headers": None},
         "instruction": "Send the greeting", "needsApproval": False},
    ]})
    response = llm_stack.api("POST", "/api/workflows", json={"goal": "Greet a webhook"})
    assert response.status_code == 201, response.text
    steps = response.json()["steps"]
    assert [s["toolName"] for s in steps] == ["compose", "http_request"]
    assert steps[1]["needsApproval"] is True  # policy, whatever the model said
    request = fake.requests[0].body
    assert request["response_format"]["type"] == "json_schema"


def test_invalid_plan_gets_one_repair_round_then_422(llm_stack, fake):
    bad = {"steps": [{"toolName": "fetch_page", "toolInput": {"url": "not a url"}, "instruction": None}]}
    fake.enqueue_json(bad)
    fake.enqueue_json(bad)
    response = llm_stack.api("POST", "/api/workflows", json={"goal": "Read a page"})
    assert response.status_code == 422 and response.json()["field"] == "steps"
    assert "toolInput.url" in response.json()["error"]
    assert len(fake.requests) == 2
    assert "toolInput.url" in json.dumps(fake.requests[1].body["messages"][-1])
    with llm_stack.db():
        assert db.session.scalar(sa.select(sa.func.count(Workflow.id))) == 0


def test_json_schema_rejected_falls_back_to_a_forced_tool_call(llm_stack, fake):
    fake.enqueue_error(400, "response_format json_schema is not supported by this model")
    fake.enqueue_tool_call("submit_plan", {"steps": [{"toolName": "compose", "toolInput": {"template": "x"}, "instruction": None}]})
    response = llm_stack.api("POST", "/api/workflows/plan", json={"goal": "Say x"})
    assert response.status_code == 200, response.text
    assert response.json()["steps"][0]["toolName"] == "compose"
    assert fake.requests[1].body["tool_choice"]["function"]["name"] == "submit_plan"


def test_model_unreachable_while_planning_is_503(make_stack):
    stack = make_stack(OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", OPENAI_API_KEY="x")
    response = stack.api("POST", "/api/workflows/plan", json={"goal": "x"})
    assert response.status_code == 503 and "language model" in response.json()["error"]


def test_without_a_model_write_refuses_clearly_and_fixed_steps_still_run(stack):
    workflow = stack.create_workflow(goal="No model", steps=[
        compose("fixed works"), {"toolName": "write", "toolInput": {"instructions": "Draft"}}])
    run = stack.wait_run(stack.run_now(workflow["id"]))
    assert run["steps"][0]["status"] == "completed" and run["steps"][0]["output"] == {"text": "fixed works"}
    assert run["status"] == "failed"
    assert "OPENAI_API_KEY" in run["steps"][1]["error"] and "OPENAI_BASE_URL" in run["steps"][1]["error"]


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>AI weekly</title>
<item><title>Small models win</title><link>https://news.example/small</link><description>Tiny and fast.</description></item>
<item><title>Agents at work</title><link>https://news.example/agents</link><description>Agents ship code.</description></item>
</channel></rss>"""


def test_seed_example_publish_a_weekly_linkedin_post_about_ai_trends(make_stack, fake, recorder, standin):
    """Goal -> plan (fetch_feed -> write -> linkedin_post) -> run -> approval with the draft -> posted once."""
    recorder.respond("/ai.xml", body=FEED, headers={"Content-Type": "application/rss+xml"})
    stack = make_stack(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", LLM_MODEL="gpt-4o-mini",
                       LINKEDIN_API_BASE=standin.api_base, LINKEDIN_AUTH_BASE=standin.auth_base)
    with stack.db():
        linkedin.save_credential(stack.user_id, standin.issue_token(), standin.member_id, None, "Ada",
                                 stack.app.config["SECRET_KEY"])
    fake.enqueue_json({"steps": [
        {"toolName": "fetch_feed", "toolInput": {"url": recorder.url + "/ai.xml", "limit": 5, "sinceLastRun": True},
         "instruction": None},
        {"toolName": "write", "toolInput": {"instructions": "Write a LinkedIn post about these AI trends",
                                            "context": "{{ steps[0].output.items }}"}, "instruction": None},
        {"toolName": "linkedin_post", "toolInput": {"text": "{{ steps[1].output.text }}"}, "instruction": None},
    ]})
    draft = "Two AI trends this week: small models win, and agents ship code. #AI"
    fake.enqueue_text(draft, prompt_tokens=400, completion_tokens=60)

    created = stack.api("POST", "/api/workflows", json={
        "goal": "Publish a weekly LinkedIn post about AI trends", "schedule": "0 9 * * 1"})
    assert created.status_code == 201, created.text
    workflow = created.json()
    assert [s["toolName"] for s in workflow["steps"]] == ["fetch_feed", "write", "linkedin_post"]
    assert [s["needsApproval"] for s in workflow["steps"]] == [False, False, True]

    run_id = stack.run_now(workflow["id"])
    approval = stack.wait_approval(run_id)
    assert approval["toolName"] == "linkedin_post" and approval["proposedInput"]["text"] == draft
    assert standin.posts == []
    draft_request = fake.requests[1].body
    assert "Small models win" in json.dumps(draft_request["messages"])

    assert stack.decide(approval["id"], decision="approve").status_code == 200
    run = stack.wait_run(run_id)
    assert run["status"] == "completed", run
    assert len(standin.posts) == 1
    output = run["steps"][2]["output"]
    assert output["postId"].startswith("urn:li:") and output["url"].endswith(output["postId"] + "/")
    assert stack.deliver("/api/workflows/step", {
        "workflowId": workflow["id"], "runId": run_id, "conversationId": run["conversationId"],
        "stepIndex": 2}).json()["status"] == "already completed"
    assert len(standin.posts) == 1  # a redelivery never posts twice
