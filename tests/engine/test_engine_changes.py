"""What changed since last time, end to end: week after week the step agent (the real `openai`
client against the scripted server) drafts an email, each draft waits for approval through
qstash_dev, and each approval is compared with the last *approved* draft: in the API, in the
approval email and on the approvals page."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from extensions import db
from models import Outbox
from tests.conftest import AuthActions
from tests.dashboard.conftest import text_of

STEP = {"toolName": "send_email", "toolInput": {"to": "team@example.com"},
        "instruction": "Email the team this week's AI news in three short sentences"}
WEEK_1 = {"subject": "AI this week", "body": "Agents got approvals. Models got cheaper. Robots learned to fold laundry."}
WEEK_2 = {"subject": "AI this week", "body": "Agents got approvals. Models got cheaper. Robots learned to fold shirts."}
WEEK_3 = {"subject": "A quiet week", "body": "Nothing new shipped; the conference season starts on Monday."}


@pytest.fixture
def llm_stack(make_stack, fake):
    return make_stack(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", LLM_MODEL="gpt-4o-mini")


def _detail(stack, approval_id: int) -> dict:
    response = stack.api("GET", f"/api/approvals/{approval_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _email(stack, approval_id: int) -> Outbox:
    with stack.db():
        return db.session.scalar(sa.select(Outbox).where(Outbox.dedup_key == f"approval-{approval_id}-request"))


def test_each_draft_is_compared_with_the_last_approved_one(llm_stack, fake):
    stack = llm_stack
    for week in (WEEK_1, WEEK_2, WEEK_3):
        fake.enqueue_tool_call("send_email", week)
    workflow = stack.create_workflow(goal="Weekly AI news for the team", steps=[STEP])

    first_run = stack.run_now(workflow["id"])
    first = stack.wait_approval(first_run)
    detail = _detail(stack, first["id"])
    assert detail["previousApproved"] is None and detail["similarity"] is None  # nothing approved yet
    assert "Since the version approved" not in _email(stack, first["id"]).text
    assert stack.decide(first["id"], decision="approve").status_code == 200
    assert stack.wait_run(first_run)["status"] == "completed"

    second_run = stack.run_now(workflow["id"])
    second = stack.wait_approval(second_run)
    detail = _detail(stack, second["id"])
    assert detail["previousApproved"] == {"to": "team@example.com", **WEEK_1}
    assert detail["previousApprovalId"] == first["id"]
    assert detail["similarity"] == pytest.approx(26 / 28, abs=1e-4)  # 13 of 14 words, in order
    email = _email(stack, second["id"])
    assert "very similar to what you approved on" in email.text
    assert "Robots learned to fold [-laundry.-]{+shirts.+}" in email.text
    assert "<del>laundry.</del> <ins>shirts.</ins>" in email.html
    assert stack.decide(second["id"], decision="reject").status_code == 200  # caught before it went out twice

    third_run = stack.run_now(workflow["id"])
    third = stack.wait_approval(third_run)
    detail = _detail(stack, third["id"])
    assert detail["previousApproved"] == {"to": "team@example.com", **WEEK_1}  # a rejected draft never counts
    assert detail["similarity"] < 0.9
    assert "very similar" not in _email(stack, third["id"]).text

    client = stack.app.test_client()
    assert AuthActions(client).login("owner@example.com").status_code == 302
    page = client.get("/approvals").get_data(as_text=True)
    card = page[page.index(f'id="approval-{third["id"]}"'):]
    assert "<del>AI this</del><ins>A quiet</ins> week" in card
    assert "very similar" not in text_of(card)
