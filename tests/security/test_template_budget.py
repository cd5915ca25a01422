"""Step inputs are sandboxed Jinja: no way to Python's internals or the config, and every render
ends inside its budget (workflows/engine/bounded.py: 2 s of CPU, 256 MB, 200,000 characters)."""
from __future__ import annotations

import os
import re
import threading
import time
from datetime import datetime, timezone

import pytest

from tests.engine.conftest import compose, make_stack, qstash, stack  # noqa: F401 (fixtures)
from tests.reliability.figures import record, slowest
from workflows.engine import bounded, references
from workflows.errors import ToolError
from workflows.tools import get_tool

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

NS = {"steps": [{"output": {"text": "hello", "items": [{"title": "a"}]}}], "workflow": {"goal": "g"},
      "run": {"id": 1, "startedAt": datetime.now(timezone.utc)}, "now": datetime.now(timezone.utc)}
COMPOSE = get_tool("compose")

ESCAPES = {
    "class walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "function globals": "{{ cycler.__init__.__globals__ }}",
    "the config": "{{ config }}",
    "request": "{{ request.environ }}",
    "self": "{{ self.__init__.__globals__ }}",
    "lipsum globals": "{{ lipsum.__globals__['os'] }}",
    "format to attributes": "{{ '{0.__class__}'.format(1) }}",
    "attr filter": "{{ ''|attr('__class__') }}",
    "mutating a dict": "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "import": "{% import 'os' as os %}",
}

BUDGET = {
    "nested loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "CPU"),
    "a huge range": ("{{ range(10**12)|list }}", "Range too big"),
    "string multiplication": ("{{ 'x' * 10**9 }}", "repeated sequence"),
    "padding a string": ("{{ 'a'|center(10**9) }}", "memory"),
    "zfill": ("{{ 'a'.zfill(10**9) }}", "memory"),
    "joining shared references": ("{{ (['x' * 100000] * 100000)|join }}", "memory"),
    "a width in a format": ("{{ '%0999999999d' % 1 }}", "memory"),
    "repeated concatenation": ("{% set ns = namespace(s='x' * 1000) %}{% for i in range(60) %}"
                               "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}", "memory"),
    "a large native value": ("{{ ['x' * 99999] * 100 }}", "larger than"),
    "long text": ("{% for i in range(100000) %}{{ 'xxxxxxxxxx' }}{% endfor %}", "longer than"),
    "recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recurses"),
    "deep nesting": ("{{ " + "[" * 500 + "]" * 500 + " }}", "nested"),
    "a long sum": ("{{ " + " + ".join(["1"] * 5000) + " }}", "nested"),
    "a huge exponent": ("{{ 10 ** 100000 }}", "exponent"),
    "a tower of powers": ("{{ ((10 ** 1000) ** 1000) ** 1000 }}", "memory|CPU"),
}


def _children() -> set[int]:
    """Live child processes of this process (zombies excluded)."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                found.add(int(entry))
    return found


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_no_template_reaches_python_internals_or_the_config(template):
    with pytest.raises(ToolError) as caught:
        references.render_input(COMPOSE, {"text": template}, NS)
    record("fuzz cases")
    message = str(caught.value)
    assert any(word in message for word in ("unsafe", "undefined", "no loader", "no attribute")), message
    assert "SECRET" not in message and "sqlite" not in message


@pytest.mark.parametrize("template, reason", BUDGET.values(), ids=BUDGET.keys())
def test_every_hostile_render_ends_in_a_clear_error_within_its_budget(template, reason):
    threads, children = set(threading.enumerate()), _children()
    started = time.monotonic()
    with pytest.raises(ToolError) as caught:
        references.render_input(COMPOSE, {"text": template}, NS)
    elapsed = time.monotonic() - started
    record("fuzz cases")
    slowest("slowest hostile render", elapsed)
    assert re.search(reason, str(caught.value)), str(caught.value)
    assert caught.value.field == "toolInput.text"
    # CPU time is the budget; wall time is bounded too, however busy the machine is.
    assert elapsed < bounded.WALL_SECONDS + 1, f"took {elapsed:.1f} s"
    # Stopped, not abandoned: no thread or process is left running the render.
    assert set(threading.enumerate()) <= threads
    assert _children() <= children


def test_plain_references_render_in_process_and_keep_their_type():
    rendered = references.render_input(COMPOSE, {"a": "{{ steps[0].output.items }}",
                                                 "b": "Hi {{ workflow.goal }}"}, NS)
    assert rendered == {"a": [{"title": "a"}], "b": "Hi g"}


def test_computing_templates_still_work_inside_the_budget():
    template = "{% for i in steps[0].output.items %}- {{ i.title|upper }}{% endfor %} ({{ 6 * 7 }})"
    assert references.render_template(template, NS) == "- A (42)"


def test_a_step_that_spins_fails_once_with_the_reason_and_is_not_retried(stack):
    workflow = stack.create_workflow(goal="Spin", steps=[
        compose("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")])
    run = stack.wait_run(stack.run_now(workflow["id"]), timeout=60)
    assert run["status"] == "failed"
    step = run["steps"][0]
    assert step["attempts"] == 1 and "CPU" in step["error"]
