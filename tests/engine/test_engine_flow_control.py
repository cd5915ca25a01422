"""STEP_PARALLELISM: every step message under one QStash flow-control key, so no more than that
many steps of all runs execute at once (docs/architecture.md, *Publishing*), against the real
qstash_dev; and the run page's "Queued" for the step an active run waits on meanwhile."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from extensions import db
from models import PendingPublish, RunStep, StepStatus
from tests.conftest import AuthActions, clean_tables, make_app
from tests.engine.conftest import compose
from tests.support.dashboard import add_run, add_workflow
from workflows.engine.publishing import STEP_FLOW_CONTROL_KEY
from workflows.integrations import accounts

RUNS, LIMIT, HOLD = 20, 2, 0.25  # runs at once, STEP_PARALLELISM, seconds the webhook takes


def _most_at_once(starts: list[float], hold: float) -> int:
    """The most requests the receiver held at the same moment (each held `hold` s from arrival)."""
    edges = sorted([(t, 1) for t in starts] + [(t + hold, -1) for t in starts], key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, change in edges:
        level += change
        peak = max(peak, level)
    return peak


def test_twenty_runs_with_a_limit_of_two_never_run_more_than_two_steps_at_once(make_stack, recorder):
    stack = make_stack(STEP_PARALLELISM=str(LIMIT))
    recorder.respond("/slow", body="{}", headers={"Content-Type": "application/json"}, delay=HOLD)
    workflow = stack.create_workflow(goal="Tell a slow webhook", steps=[
        compose("hello"),
        {"toolName": "http_request", "toolInput": {"url": recorder.url + "/slow", "json": {"n": 1}},
         "needsApproval": False}])
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        run_ids = list(pool.map(lambda _: stack.run_now(workflow["id"]), range(RUNS)))
    finished = [stack.wait_run(run_id, timeout=90) for run_id in run_ids]
    elapsed = time.monotonic() - started

    assert [run["status"] for run in finished] == ["completed"] * RUNS
    slow = [r.time for r in recorder.requests if r.route == "/slow"]
    assert len(slow) == RUNS  # each webhook call once
    assert _most_at_once(slow, HOLD) <= LIMIT
    # Bounded from below: RUNS calls of HOLD seconds, LIMIT at a time, cannot finish sooner.
    assert elapsed >= RUNS * HOLD / LIMIT


@pytest.mark.parametrize("limit, expected", [
    ("3", {"key": STEP_FLOW_CONTROL_KEY, "parallelism": 3}), (None, None)])
def test_step_messages_carry_the_flow_control_key_only_when_set(make_stack, limit, expected):
    stack = make_stack(**({"STEP_PARALLELISM": limit} if limit else {}))
    workflow = stack.create_workflow(goal="Say hello", steps=[compose("hello")])
    run_id = stack.run_now(workflow["id"])
    assert stack.wait_run(run_id)["status"] == "completed"
    with stack.db():
        options = db.session.scalars(sa.select(PendingPublish.options).where(PendingPublish.run_id == run_id)).one()
    assert options.get("flowControl") == expected


@pytest.mark.parametrize("limit", ["2", None])
def test_the_step_an_active_run_waits_on_reads_queued_under_a_limit(migrated, limit):
    app = make_app(migrated, **({"STEP_PARALLELISM": limit} if limit else {}))
    with app.app_context():
        clean_tables()
    client = app.test_client()
    AuthActions(client).register()
    with app.app_context():
        workflow_id = add_workflow(accounts.user_by_email("ada@example.com").id)
        run_id = add_run(workflow_id, "running", steps=[
            RunStep(step_index=0, tool_name="compose", tool_input={"template": "a"}, status=StepStatus.COMPLETED,
                    attempts=1, output={"text": "a"}),
            RunStep(step_index=1, tool_name="compose", tool_input={"template": "b"}, status=StepStatus.PENDING),
            RunStep(step_index=2, tool_name="compose", tool_input={"template": "c"}, status=StepStatus.PENDING)])
        db.session.remove()
    html = client.get(f"/runs/{run_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    if limit:  # the next step waits for a slot; the one after it is simply pending
        assert html.count(">Queued<") == 1 and ">Pending<" in html
    else:
        assert ">Queued<" not in html and html.count(">Pending<") >= 2
