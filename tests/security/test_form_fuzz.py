"""Property-based fuzzing (hypothesis) of the dashboard's forms, as the logged-in owner: the
workflow form and its htmx fragments, the settings forms, and the approval decision forms
(inline and by the emailed link). Never a 500, never another user's data or a stack trace, no
row written by a rejected request (and none at all by the fragments, which store nothing), the
slowest answer reported.

A form is rejected when its answer is a 4xx or shows an error beside a field (htmx sections
answer 200 with the form and its errors).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extensions import db
from models import Approval
from tests.conftest import TEST_SECRET
from tests.reliability.figures import record, slowest
from tests.security.conftest import table_rows
from tests.security.fixtures import pending_approval
from tests.security.matrix import PASSWORD, World, build_world
from tests.security.strategies import FUZZ, cron, strings, timezones
from workflows.engine import outbox
from workflows.tools import REGISTRY

CANARY = "another-users-goal-4b8e"
NEVER_SHOWN = (CANARY, TEST_SECRET, "Traceback (most recent call last)")
REJECTED = 'class="field-error"'

# Form text: anything a browser could send (no lone surrogates: they cannot be encoded as a form;
# NUL only now and then, or it would end most examples at the 400 that refuses it) and values
# chosen to reach each check.
typed = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
values = typed | strings.filter(lambda s: "\x00" not in s and s == s.encode("utf-8", "ignore").decode()) | st.sampled_from([
    "", " ", "0", "-1", "1e309", "NaN", "$5", "12.50", "on", '{"a": 1}', "[1, 2", '"quoted"', "x" * 600,
    "{{ steps[0].output }}", "https://example.com/feed", "http://127.0.0.1:1/x", "a@example.com", "a\x00b"])
INPUT_NAMES = sorted({name for tool in REGISTRY.values() for name in tool.input_schema.get("properties", {})} | {"x"})


def step_fields(tools: list[str]):  # type: ignore[no-untyped-def]
    """The fields of one step at a drawn index: tool, instruction, approval and input fields."""
    def fields(i: int):  # type: ignore[no-untyped-def]
        prefix = f"steps-{i}-"
        return st.fixed_dictionaries({prefix + "toolName": st.sampled_from(tools)}, optional={
            prefix + "instruction": values, prefix + "needsApproval": st.sampled_from(["", "on"]),
            **{f"{prefix}input-{name}": values for name in INPUT_NAMES}})
    return st.integers(0, 12).flatmap(fields)


def workflow_form(tools: list[str], workflow_ids: list[str]):  # type: ignore[no-untyped-def]
    """The New workflow / Edit form, with 0-4 steps at any indexes and stray fields."""
    top = st.fixed_dictionaries({"goal": values}, optional={
        "schedule": cron | values, "timezone": timezones, "overlap": st.sampled_from(["skip", "queue", "allow",
                                                                                    "supersede", "x", ""]),
        "budgetUsd": values, "workflow_id": st.sampled_from(workflow_ids) | typed,
        "edit": st.sampled_from(["add", "tool-0", "remove-0", "up-1", "down-0", "remove-99", "x-", "up-"]) | typed,
        "zz": values})
    anything = st.builds(lambda t, steps: {**t, **{k: v for s in steps for k, v in s.items()}},
                         top, st.lists(step_fields(tools), max_size=4))
    # A valid form with a few fields changed, so the saving paths are explored too.
    valid = {"goal": "Weekly digest", "steps-0-toolName": tools[0], "steps-0-input-template": "Hello {{ now }}"}
    nearly = st.builds(lambda changes: {**valid, **changes}, st.fixed_dictionaries({}, optional={
        "schedule": st.sampled_from(["0 9 * * 1", "*/5 * * * *", "0 0 30 2 *", "@daily"]) | cron,
        "timezone": st.sampled_from(["Europe/Berlin", "America/New_York"]) | timezones,
        "overlap": st.sampled_from(["queue", "supersede", "x"]), "budgetUsd": values,
        "steps-0-needsApproval": st.just("on"), "steps-0-instruction": values, "steps-0-input-template": values}))
    return anything | nearly


def _leaks(text: str) -> None:
    leaked = [item for item in NEVER_SHOWN if item in text]
    record("leaks", len(leaked))
    assert not leaked, leaked


def submit(world: World, method: str, path: str, data: dict[str, str] | None = None, htmx: bool = False,
           stores_nothing: bool = False) -> Any:
    """One form request as the owner's session, checked: no 500, no leak, nothing written when it
    was rejected (or ever, for `stores_nothing`)."""
    client, headers = world.clients["owner session"]
    before = table_rows(world.app)
    started = time.perf_counter()
    response = client.open(path, method=method, data=data if method != "GET" else None,
                           query_string=data if method == "GET" else None,
                           headers={**headers, **({"HX-Request": "true"} if htmx else {})})
    slowest("slowest form response", time.perf_counter() - started)
    record("form fuzz cases")
    text = response.get_data(as_text=True)
    record("500s seen", int(response.status_code >= 500))
    assert response.status_code < 500, (method, path, data, text[:800])
    _leaks(text)
    if stores_nothing or response.status_code >= 400 or REJECTED in text:
        unchanged = table_rows(world.app) == before
        record("rows written by rejected requests", int(not unchanged))
        assert unchanged, (method, path, data, response.status_code)
    return response


@dataclass
class Forms:
    """The owner, logged in, with a workflow of theirs; another user's workflow that must never show."""

    world: World
    mine: str
    others: str


@pytest.fixture
def forms(app) -> Forms:  # type: ignore[no-untyped-def]
    world = build_world(app)
    client, headers = world.clients["other token"]
    others = client.post("/api/workflows", headers=headers, json={"goal": CANARY, "steps": [
        {"toolName": "compose", "toolInput": {"template": "x"}}]}).get_json()["id"]
    return Forms(world, world.objects()["workflow"], others)


@pytest.mark.timeout(900)
def test_fuzz_the_workflow_form(forms):
    """Create and Edit: saved when valid (302), else every problem beside its field and nothing stored."""
    form = workflow_form(["compose", *sorted(REGISTRY), "", "nope"], [forms.mine, forms.others])

    @FUZZ
    @given(data=form, edit=st.booleans())
    def run(data: dict[str, str], edit: bool) -> None:
        path = f"/workflows/{forms.mine}/edit" if edit else "/workflows/new"
        response = submit(forms.world, "POST", path, data)
        assert response.status_code in (302, 400, 422), response.status_code

    run()


@pytest.mark.timeout(900)
def test_fuzz_the_form_fragments(forms):
    """Add/remove/move a step, Plan with AI (no model here) and the schedule described live: they
    store nothing, whatever they are sent, with or without htmx."""
    form = workflow_form(["compose", *sorted(REGISTRY), "", "nope"], [forms.mine, forms.others])

    @FUZZ
    @given(data=form, path=st.sampled_from(["/workflows/form/steps", "/workflows/form/plan", "/workflows/schedule"]),
           htmx=st.booleans())
    def run(data: dict[str, str], path: str, htmx: bool) -> None:
        method = "GET" if path == "/workflows/schedule" else "POST"
        submit(forms.world, method, path, data, htmx=htmx, stores_nothing=True)

    run()


@pytest.mark.stack  # a template that computes renders in a forked child (workflows/engine/bounded.py)
@pytest.mark.timeout(900)
def test_fuzz_test_step(forms):
    """Test step runs the step now and stores nothing. Only tools that reach no network are
    drawn: a fuzzed URL must never leave this machine."""
    form = workflow_form(["compose", "write", "nope", ""], [forms.mine, forms.others])

    @FUZZ
    @given(data=form, index=st.sampled_from([0, 1, 3, 12, 2**40]), htmx=st.booleans())
    def run(data: dict[str, str], index: int, htmx: bool) -> None:
        submit(forms.world, "POST", f"/workflows/form/steps/{index}/test", data, htmx=htmx, stores_nothing=True)

    run()


SETTINGS = {
    "/settings/email": {"current_password": st.sampled_from([PASSWORD, "wrong-password"]) | values, "email": values},
    "/settings/password": {"current_password": st.sampled_from([PASSWORD, "wrong-password"]) | values,
                           "new_password": values},
    "/settings/notifications": {"notification_email": values | st.just("owner@example.com"),
                                "notify_on_failure": values, "notify_on_completion": values},
    "/settings/timezone": {"timezone": timezones},
    "/settings/tokens": {"name": values},
    "/settings/linkedin/token": {"access_token": values, "member_id": values, "expires_in_days": values},
}


@pytest.mark.timeout(900)
def test_fuzz_the_settings_forms(forms):
    posted = st.sampled_from(sorted(SETTINGS)).flatmap(
        lambda path: st.tuples(st.just(path), st.fixed_dictionaries({}, optional=SETTINGS[path])))

    @FUZZ
    @given(form=posted, htmx=st.booleans())
    def run(form: tuple[str, dict[str, str]], htmx: bool) -> None:
        path, data = form
        submit(forms.world, "POST", path, data, htmx=htmx)

    run()


def _decision_fields():  # type: ignore[no-untyped-def]
    names = ["to", "subject", "body", "url", "method", "json", "headers", "x"]
    decision = st.sampled_from(["approve", "reject", "revise"]) | st.sampled_from(["", "maybe"]) | values
    return st.fixed_dictionaries({"decision": decision}, optional={
        "feedback": values, "edited": st.sampled_from(["", "1", "yes"]),
        **{f"input.{name}": values for name in names}})


@pytest.mark.timeout(900)
def test_fuzz_the_approval_decision_forms(forms):
    """Inline (/approvals/<id>/decision) and by the emailed link (/approvals/<token>), each on a
    fresh pending approval of a send_email step: decided once when valid, else nothing changes."""
    @FUZZ
    @given(data=_decision_fields(), by_link=st.booleans())
    def run(data: dict[str, str], by_link: bool) -> None:
        approval_id = pending_approval(forms.world.app, forms.mine)
        if by_link:
            with forms.world.app.app_context():
                path = "/approvals/" + outbox.approval_link(forms.world.services, approval_id).rsplit("/", 1)[1]
        else:
            path = f"/approvals/{approval_id}/decision"
        response = submit(forms.world, "POST", path, data)
        with forms.world.app.app_context():
            status = db.session.get(Approval, approval_id).status.value
        assert (status == "pending") == (response.status_code >= 400 or REJECTED in response.get_data(as_text=True)), (
            data, response.status_code, status)

    run()
