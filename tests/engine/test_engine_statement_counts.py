"""SQL statements and transactions per step delivery and per run start (issue 12).

Counts are deterministic, so an N+1, a stray refresh or a re-read cannot come back unnoticed.
The deliveries go through the real Flask route with a signed body; only the queue is an
in-memory recorder. BEGIN is counted as a transaction, not as a statement, so the numbers are
the same on SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from extensions import db
from tests.conftest import bearer, create_user_with_token
from tests.engine.conftest import sign
from tests.engine.test_engine_claims import FakeQueue
from workflows.authoring import editing


@dataclass
class Counter:
    """What the database saw: statements (BEGIN excluded) and transactions begun."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    def reset(self) -> None:
        self.statements.clear()
        self.transactions = 0

    def summary(self) -> str:
        return "\n".join(s.split("\n")[0][:120] for s in self.statements)


@pytest.fixture
def counted(app):  # type: ignore[no-untyped-def]
    counter = Counter()
    with app.app_context():
        engine = db.engine

    def on_statement(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if not statement.startswith("BEGIN"):
            counter.statements.append(statement)

    def on_begin(conn):  # type: ignore[no-untyped-def]
        counter.transactions += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "begin", on_begin)
    yield counter
    event.remove(engine, "before_cursor_execute", on_statement)
    event.remove(engine, "begin", on_begin)


def _compose_workflow(app, steps: int) -> tuple[str, str]:
    """A workflow of compose steps, each quoting the previous one: (workflow id, API token)."""
    user_id, token = create_user_with_token(app, "counts@example.com")
    templates = ["first"] + [f"{{{{ steps[{i - 1}].output.text }}}} > {i}" for i in range(1, steps)]
    with app.app_context():
        workflow = editing.create_workflow(app.extensions["stepwise"], user_id, {
            "goal": "count", "steps": [{"toolName": "compose", "toolInput": {"template": t}} for t in templates]})
        return workflow.id, token


def _deliver(app, client, queue: FakeQueue) -> dict:
    message = queue.published.pop(0)
    raw = json.dumps(message.body)
    reply = client.post("/api/workflows/step", data=raw, headers={
        "Upstash-Signature": sign(raw, message.url), "Content-Type": "application/json"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return message.body


def test_statements_and_transactions_per_step_and_per_run_start(app, counted):
    queue = app.extensions["stepwise"].queue = FakeQueue()
    workflow_id, token = _compose_workflow(app, 3)
    client = app.test_client()
    client.get("/api/workflows", headers=bearer(token))  # records the token's use (once a minute)

    counted.reset()
    assert client.post(f"/api/workflows/{workflow_id}/runs", headers=bearer(token)).status_code == 202
    # token, user, owned workflow | run, step copies, active run, publish row | publish recorded
    assert (len(counted.statements), counted.transactions) == (8, 2), counted.summary()

    expected = {
        # claim, run -> running | step completed, conversation, run held, next publish | sent
        0: (7, 3),
        # claim, goal and earlier outputs (references) | as above
        1: (7, 3),
        # claim, goal and outputs | step completed, conversation, run completed, workflow freed (2),
        # the owner's choice of a completion email
        2: (8, 2),
    }
    for index, (statements, transactions) in expected.items():
        counted.reset()
        assert _deliver(app, client, queue)["stepIndex"] == index
        assert (len(counted.statements), counted.transactions) == (statements, transactions), (
            f"step {index}:\n{counted.summary()}")
    run = client.get(f"/api/workflows/{workflow_id}/runs", headers=bearer(token)).get_json()["items"][0]
    assert run["status"] == "completed"


class DraftingModel:
    """A model double whose drafts cost nothing to make: the test counts SQL, not tokens."""

    model = "gpt-4o-mini"

    def draft(self, instructions: str, context: str | None):  # type: ignore[no-untyped-def]
        from workflows.usage import Usage

        return "A haiku", Usage(100, 20, 0.0001)


@pytest.mark.parametrize("budget, statements", [
    # claim, run -> running, the budget (none: nothing more) | step completed, asset, conversation,
    # run's usage, run completed, workflow freed (2), the owner's choice of a completion email
    (None, 11),
    (5.0, 13),  # ... and, in the claim's transaction, the month's spend and the step's history
])
def test_the_cost_guard_costs_only_steps_that_call_the_model(app, counted, budget, statements):
    """A write step reads its workflow's budget in the claim's transaction, and with a budget two
    more rows; a step that calls no model reads none of it (the compose counts above)."""
    services = app.extensions["stepwise"]
    queue, services.llm = FakeQueue(), DraftingModel()
    services.queue = queue
    user_id, token = create_user_with_token(app, "guard@example.com")
    with app.app_context():
        workflow_id = editing.create_workflow(services, user_id, {
            "goal": "haiku", "budgetUsd": budget,
            "steps": [{"toolName": "write", "toolInput": {"instructions": "A haiku"}}]}).id
    client = app.test_client()
    assert client.post(f"/api/workflows/{workflow_id}/runs", headers=bearer(token)).status_code == 202
    counted.reset()
    _deliver(app, client, queue)
    assert (len(counted.statements), counted.transactions) == (statements, 2), counted.summary()
    reads = ("SELECT workflows.budget_usd, workflows.timezone", "SELECT coalesce(sum(runs.cost_usd)",
             "SELECT run_steps.cost_usd")[:statements - 10]
    guard = counted.statements[2:statements - 8]
    assert [s.startswith(read) for s, read in zip(guard, reads)] == [True] * len(reads) == [True] * len(guard), \
        counted.summary()
    services.llm = None
