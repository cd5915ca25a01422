"""The pure parts behind the pages: recipes, the schedule in words, the form read back into the
API's shape, the timeline's geometry, Markdown sanitising, trying a step."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from blueprints.dashboard.timeline import AXIS, MIN_BAR, duration, status_word, timeline
from blueprints.dashboard.workflow_form import FormState, StepState, field_id, input_fields
from blueprints.markup import markdown_html
from models import RunStatus, StepStatus
from workflows.authoring import definitions, schedule_text
from workflows.authoring.recipes import RECIPES
from workflows.tools import REGISTRY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


# -- recipes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_a_valid_workflow_that_needs_no_model(name):
    data = RECIPES[name].data("ada@example.com")
    specs = definitions.check_steps(data["steps"])
    assert definitions.workflow_problems(data) == []
    assert all(spec.tool_name != "write" and not spec.instruction for spec in specs), "a recipe must run without a model"


def test_recipes_mail_me_and_one_runs_with_no_network():
    assert len(RECIPES) >= 4
    offline = [r for r in RECIPES.values() if not r.needs_network]
    assert offline, "at least one recipe completes with no network at all"
    for recipe in offline:
        tools = {step["toolName"] for step in recipe.steps("ada@example.com")}
        assert tools <= {"compose", "send_email"}, f"{recipe.name} would need the network: {tools}"
    for recipe in RECIPES.values():
        for step in recipe.steps("ada@example.com"):
            if step["toolName"] == "send_email":
                assert step["toolInput"]["to"] == "ada@example.com"


# -- the schedule in words -------------------------------------------------------------------

def test_schedule_preview_describes_and_lists_the_next_five_runs():
    preview = schedule_text.preview("0 9 * * 1", "Europe/Berlin", T0)
    assert preview.words == "At 09:00 AM, only on Monday"
    assert [t.isoformat() for t in preview.next_runs] == [
        "2026-03-09T09:00:00+01:00", "2026-03-16T09:00:00+01:00", "2026-03-23T09:00:00+01:00",
        "2026-03-30T09:00:00+02:00", "2026-04-06T09:00:00+02:00"]  # the clocks change on 29 March


def test_schedule_preview_follows_the_shared_dst_rule():
    # 02:30 does not exist in Berlin on 29 March 2026: it fires once, just after the gap.
    preview = schedule_text.preview("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=timezone.utc))
    assert [t.isoformat() for t in preview.next_runs[:2]] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]


@pytest.mark.parametrize("schedule, zone, field, words", [
    ("0 9 * *", "UTC", "schedule", "5 fields"),
    ("61 9 * * *", "UTC", "schedule", "not a valid cron"),
    ("0 9 * * 1", "Mars/Olympus", "timezone", "unknown timezone"),
])
def test_schedule_preview_names_what_is_wrong(schedule, zone, field, words):
    preview = schedule_text.preview(schedule, zone, T0)
    assert preview.field == field and words in preview.error and preview.next_runs == []


def test_an_empty_schedule_is_run_now_only():
    preview = schedule_text.preview("", "UTC", T0)
    assert preview.error is None and preview.words is None and preview.schedule is None


def test_next_run_is_none_when_paused_or_unscheduled():
    assert schedule_text.next_run("0 9 * * 1", "UTC", True, T0) is None
    assert schedule_text.next_run(None, "UTC", False, T0) is None
    assert schedule_text.next_run("0 9 * * 1", "UTC", False, T0) == datetime(2026, 3, 9, 9, tzinfo=timezone.utc)


# -- the form read back into the API's shape --------------------------------------------------

def test_fields_follow_each_tools_schema():
    kinds = {tool: {f.name: f.kind for f in input_fields(REGISTRY[tool])} for tool in REGISTRY}
    assert kinds["fetch_feed"] == {"url": "text", "limit": "number", "sinceLastRun": "checkbox"}
    assert kinds["http_request"] == {"url": "text", "method": "select", "json": "json", "headers": "json"}
    assert kinds["compose"] == {"template": "textarea"}
    assert kinds["write"]["context"] == "json"  # string, list, object...: a JSON textarea
    assert [f.name for f in input_fields(REGISTRY["send_email"])] == ["to", "subject", "body"]


def _form(**fields: str) -> dict[str, str]:
    return {"goal": "Digest", "schedule": "", "timezone": "UTC", "overlap": "skip", **fields}


def test_posted_form_becomes_the_api_body():
    state = FormState.from_form(_form(**{
        "steps-0-toolName": "fetch_feed", "steps-0-input-url": " https://example.com/feed ",
        "steps-0-input-limit": "5", "steps-0-input-sinceLastRun": "on",
        "steps-3-toolName": "http_request", "steps-3-input-url": "https://hooks.example/x",
        "steps-3-input-json": '{"text": "{{ steps[0].output.items }}"}', "steps-3-input-headers": "",
        "steps-3-needsApproval": "on", "steps-3-instruction": "Say hello"}))
    body, errors = state.data()
    assert errors == {}
    assert body["steps"] == [
        {"toolName": "fetch_feed", "toolInput": {"url": "https://example.com/feed", "limit": 5, "sinceLastRun": True},
         "needsApproval": False},
        {"toolName": "http_request", "toolInput": {"url": "https://hooks.example/x",
                                                    "json": {"text": "{{ steps[0].output.items }}"}},
         "needsApproval": True, "instruction": "Say hello"},
    ]
    assert body["schedule"] is None and body["goal"] == "Digest"


def test_json_fields_take_text_that_is_not_json_as_a_string_but_refuse_broken_json():
    state = FormState.from_form(_form(**{
        "steps-0-toolName": "write", "steps-0-input-instructions": "Sum up",
        "steps-0-input-context": "{{ steps[0].output.items }}",
        "steps-1-toolName": "http_request", "steps-1-input-url": "https://hooks.example/x",
        "steps-1-input-json": '{"text": "unclosed'}))
    body, errors = state.data()
    assert body["steps"][0]["toolInput"]["context"] == "{{ steps[0].output.items }}"
    assert "json" not in body["steps"][1]["toolInput"]
    assert errors["steps-1-input-json"].startswith("json is not valid JSON")


def test_a_stored_step_shows_as_the_text_that_reads_back_the_same():
    step = {"toolName": "http_request", "toolInput": {"url": "https://hooks.example/x", "method": "PUT",
                                                      "json": {"n": 1}, "headers": {"X-A": "b"}}, "needsApproval": False}
    state = FormState(goal="g", steps=[StepState.from_data(step)])
    assert state.steps[0].values["json"] == '{\n  "n": 1\n}'
    body, errors = state.data()
    assert errors == {} and body["steps"][0] == step


def test_step_edits_add_move_remove_and_reset_approval_on_a_new_tool():
    state = FormState(steps=[StepState.new("compose"), StepState.new("send_email")])
    state.steps[0].values = {"template": "hi"}
    state.edit("down-0")
    assert [s.tool_name for s in state.steps] == ["send_email", "compose"]
    state.edit("add")
    assert len(state.steps) == 3
    state.edit("remove-2")
    state.steps[1].tool_name = "http_request"
    state.edit("tool-1")
    assert state.steps[1].needs_approval is True and state.steps[1].values == {}
    state.edit("up-0")  # the first step cannot move up
    state.edit("remove-9")  # a step that isn't there: nothing happens
    assert [s.tool_name for s in state.steps] == ["send_email", "http_request"]


@pytest.mark.parametrize("path, form_id", [
    ("goal", "goal"),
    ("steps", "steps"),
    ("steps[2].toolInput.url", "steps-2-input-url"),
    ("steps[0].toolInput.headers.X-Bad", "steps-0-input-headers"),
    ("steps[1].toolInput", "steps-1-toolInput"),
    ("steps[1].toolName", "steps-1-toolName"),
    (None, "form"),
])
def test_domain_field_names_map_to_form_fields(path, form_id):
    assert field_id(path) == form_id


# -- the run page's timeline -------------------------------------------------------------------

def _step(index: int, start: float | None, end: float | None, status: str = "completed"):
    at = lambda s: None if s is None else T0 + timedelta(seconds=s)  # noqa: E731
    return SimpleNamespace(step_index=index, started_at=at(start), finished_at=at(end), status=StepStatus(status))


def test_bars_share_one_time_axis():
    run = SimpleNamespace(status=RunStatus.COMPLETED, created_at=T0, started_at=T0, finished_at=T0 + timedelta(seconds=10))
    line = timeline(run, [_step(0, 0, 2), _step(1, 2, 10), _step(2, None, None, "skipped")], T0)
    assert line.seconds == 10
    assert (line.bars[0].x, line.bars[0].width) == (0, AXIS * 0.2)
    assert (line.bars[1].x, line.bars[1].width) == (AXIS * 0.2, AXIS * 0.8)
    assert line.bars[2] is None


def test_an_active_runs_axis_ends_now_and_a_blink_still_shows():
    run = SimpleNamespace(status=RunStatus.RUNNING, created_at=T0, started_at=T0, finished_at=None)
    now = T0 + timedelta(seconds=100)
    line = timeline(run, [_step(0, 0, 0.001), _step(1, 50, None, "running")], now)
    assert line.seconds == 100
    assert line.bars[0].width == MIN_BAR
    assert (line.bars[1].x, line.bars[1].width) == (500, 500)


def test_words_and_durations():
    assert status_word(RunStatus.AWAITING_APPROVAL) == "Awaiting approval"
    assert status_word("completed") == "Completed"
    assert [duration(s) for s in (0.25, 12.34, 245, 7380)] == ["250 ms", "12.3 s", "4 min 5 s", "2 h 3 min"]


# -- Markdown ------------------------------------------------------------------------------

def test_markdown_is_rendered_and_sanitised():
    html = str(markdown_html("# Title\n\n**bold** <script>alert(1)</script> [x](javascript:alert(1)) "
                             "[ok](https://example.com) <img src=x onerror=alert(1)>"))
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html and "<img" not in html and "href=\"javascript" not in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html
