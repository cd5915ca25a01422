"""References: templates in a step's input rendered over earlier outputs, and their validation."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from workflows.engine import references
from workflows.engine.references import (
    LATER_STEP,
    NOT_LITERAL,
    check_references,
    render_input,
    render_template,
)
from workflows.errors import ToolError
from workflows.tools import REGISTRY

FEED_OUTPUT = {"items": [{"title": "A", "link": "https://a.example/1", "published": None}], "count": 1}


@pytest.fixture
def ns(make_ctx):
    ctx = make_ctx(step_outputs=(FEED_OUTPUT, {"text": "42", "meta": {"n": 3}}))
    return references.namespace(ctx)


def render(value, ns, tool="http_request"):
    return render_input(REGISTRY[tool], {"json": value}, ns)["json"]


def test_namespace_exposes_steps_workflow_run_and_now(make_ctx):
    ns = references.namespace(make_ctx(step_outputs=(FEED_OUTPUT,)))
    assert ns["steps"] == [{"output": FEED_OUTPUT}]
    assert ns["workflow"]["goal"] == "Weekly AI digest"
    assert ns["run"]["id"] == 7
    assert ns["run"]["startedAt"] == datetime(2025, 3, 10, 7, 59, tzinfo=timezone.utc)
    assert ns["now"].tzinfo is not None


def test_naive_datetimes_from_the_database_are_taken_as_utc(make_ctx):
    ns = references.namespace(make_ctx(run_started_at=datetime(2025, 1, 2, 3, 4)))
    assert render("{{ run.startedAt }}", ns) == "2025-01-02T03:04:00Z"


def test_a_single_expression_keeps_its_native_type(ns):
    assert render("{{ steps[0].output.items }}", ns) == FEED_OUTPUT["items"]
    assert render("  {{steps[0].output.count}} ", ns) == 1
    assert render("{{ steps[1].output.meta }}", ns) == {"n": 3}


def test_items_key_wins_over_the_dict_method(ns):
    assert render("{{ steps[0].output.items[0].title }}", ns) == "A"


def test_a_string_output_stays_a_string_even_if_it_looks_like_a_number(ns):
    assert render("{{ steps[1].output.text }}", ns) == "42"


def test_strings_inside_nested_dicts_and_lists_are_rendered(ns):
    value = {"blocks": [{"text": "New: {{ steps[0].output.items[0].link }}"}, 5, None], "n": "{{ 2 + 3 }}"}
    assert render(value, ns) == {"blocks": [{"text": "New: https://a.example/1"}, 5, None], "n": 5}


def test_text_renders_containers_as_json_times_as_iso_and_null_as_nothing(ns):
    out = render("{{ steps[1].output.meta }} at {{ now }}: [{{ steps[0].output.items[0].published }}]", ns)
    assert out == '{"n": 3} at 2025-03-10T08:00:00Z: []'


def test_strings_without_template_markers_are_untouched(ns):
    assert render("50% off {not a template} }}", ns) == "50% off {not a template} }}"


def test_raw_fields_are_not_rendered(ns):
    tool_input = {"template": "{{ steps[9].output.nope }}"}
    assert render_input(REGISTRY["compose"], tool_input, ns) == tool_input


@pytest.mark.parametrize("template, message", [
    ("{{ steps[0].output.items[0].lnk }}", "toolInput.json: 'dict object' has no attribute 'lnk'"),
    ("Hello {{ nobody }}", "toolInput.json: 'nobody' is undefined"),
    ("{{ steps[5].output }}", "toolInput.json: list object has no element 5"),
    ("{{ steps[0].output.items[0].title", "toolInput.json: template error:"),
    ("{{ 1 / 0 }}", "toolInput.json: division by zero"),
])
def test_render_errors_are_tool_errors_naming_the_field(ns, template, message):
    with pytest.raises(ToolError) as caught:
        render(template, ns)
    assert str(caught.value).startswith(message)
    assert caught.value.field == "toolInput.json"


def test_nested_field_path_is_named(ns):
    with pytest.raises(ToolError, match=r"^toolInput\.json\.blocks\[1\]\.text: 'x' is undefined"):
        render({"blocks": [{}, {"text": "{{ x }}"}]}, ns)


@pytest.mark.parametrize("template", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ steps.__class__ }}",
    "{{ steps[0].output.items.append(1) }}",
    "{{ 'x' * 10000000 }}",
    "{{ 2 ** 100000 }}",
])
def test_the_sandbox_refuses_unsafe_access(ns, template):
    with pytest.raises(ToolError, match="unsafe|longer than|larger than"):
        render(template, ns)


def test_a_runaway_loop_is_stopped_by_the_output_cap(ns):
    loop = "{% for i in range(100000) %}{% for j in range(100) %}xyz{% endfor %}{% endfor %}"
    with pytest.raises(ToolError, match="longer than"):
        render_template(loop, ns)


def test_render_template_renders_text_with_loops(ns):
    text = render_template("{{ workflow.goal }}\n{% for i in steps[0].output.items %}- {{ i.title }}\n{% endfor %}", ns)
    assert text == "Weekly AI digest\n- A\n"


def _steps(*inputs):
    return [{"toolName": "compose", "toolInput": tool_input} for tool_input in inputs]


def test_check_references_accepts_earlier_steps_everywhere():
    steps = _steps({"url": "https://x.example/feed"},
                   {"template": "{{ steps[0].output.items }}"},
                   {"json": {"text": ["{{ steps[1].output.text }}", "{{ steps.0.output }}"]}})
    assert check_references(steps) == []


@pytest.mark.parametrize("tool_input, path, message", [
    ({"url": "{{ steps[1].output.link }}"}, "steps[1].toolInput.url", LATER_STEP.format(i=1)),
    ({"url": "{{ steps[3].output.link }}"}, "steps[1].toolInput.url", LATER_STEP.format(i=3)),
    ({"template": "{{ steps[2].output.text }}"}, "steps[1].toolInput.template", LATER_STEP.format(i=2)),
    ({"json": {"a": ["{% set i = 0 %}{{ steps[i] }}"]}}, "steps[1].toolInput.json.a[0]", NOT_LITERAL),
    ({"json": "{{ steps[-1].output }}"}, "steps[1].toolInput.json", NOT_LITERAL),
    ({"json": "{{ steps['0'].output }}"}, "steps[1].toolInput.json", NOT_LITERAL),
    ({"json": "{% for s in steps %}{{ s }}{% endfor %}"}, "steps[1].toolInput.json", NOT_LITERAL),
    ({"json": "{{ steps[0].output "}, "steps[1].toolInput.json", "template error: unexpected end of template"),
])
def test_check_references_reports_bad_references(tool_input, path, message):
    steps = _steps({"url": "https://x.example/feed"}, tool_input)
    errors = check_references(steps)
    assert len(errors) == 1
    assert errors[0][0] == path
    assert errors[0][1].startswith(message)


def test_the_later_step_message_says_what_to_do():
    assert check_references(_steps({"json": "{{ steps[0] }}"})) == [
        ("steps[0].toolInput.json",
         "steps[0] refers to the current or a later step; a step can only use earlier steps' outputs")]
