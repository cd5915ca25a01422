"""compose renders its own template; send_email hands an outbox email to the runner."""
from __future__ import annotations

import pytest

from workflows.errors import ToolError
from workflows.tools import REGISTRY

compose = REGISTRY["compose"]
send_email = REGISTRY["send_email"]


def test_compose_renders_earlier_outputs_into_text(make_ctx):
    ctx = make_ctx(step_outputs=({"items": [{"title": "One", "link": "https://a.example/1"},
                                            {"title": "Two", "link": "https://a.example/2"}]},))
    template = "# {{ workflow.goal }} ({{ now.strftime('%Y-%m-%d') }})\n" \
               "{% for item in steps[0].output.items %}- [{{ item.title }}]({{ item.link }})\n{% endfor %}"
    result = compose.run({"template": template}, ctx)
    assert result.output == {"text": "# Weekly AI digest (2025-03-10)\n"
                                      "- [One](https://a.example/1)\n- [Two](https://a.example/2)\n"}
    assert result.assets == [] and result.emails == []


def test_compose_does_not_autoescape(make_ctx):
    # Inside surrounding text, so the template goes through Jinja's output path, where
    # autoescape would turn "<" into "&lt;" (a bare single expression never reaches it).
    ctx = make_ctx(step_outputs=({"text": "<b>R&D</b>"},))
    result = compose.run({"template": "Note: {{ steps[0].output.text }} & more"}, ctx)
    assert result.output == {"text": "Note: <b>R&D</b> & more"}


def test_compose_with_an_unknown_name_fails_naming_the_template(make_ctx):
    with pytest.raises(ToolError, match=r"^toolInput\.template: 'dict object' has no attribute 'title'"):
        compose.run({"template": "{{ steps[0].output.title }}"}, make_ctx(step_outputs=({},)))


def test_send_email_returns_an_outbox_email_with_a_deterministic_message_id(make_ctx):
    tool_input = {"to": "Reader@Example.com", "subject": "Digest", "body": "Hello"}
    first = send_email.run(tool_input, make_ctx())
    again = send_email.run(tool_input, make_ctx())
    assert first.output == {"messageId": "<wf-abc123-run-7-step-2@stepwise>"} == again.output
    [email] = first.emails
    assert (email.to, email.subject, email.text) == ("Reader@example.com", "Digest", "Hello")
    assert email.message_id == first.output["messageId"]


def test_send_email_refuses_an_invalid_address(make_ctx):
    with pytest.raises(ToolError) as caught:
        send_email.run({"to": "two@a.example, three@b.example", "subject": "s", "body": "b"}, make_ctx())
    assert caught.value.field == "toolInput.to"
