"""The write tool: drafts through the model, saves a Markdown asset, refuses clearly without one."""
from __future__ import annotations

import json

import pytest

from workflows.errors import RetryableToolError, ToolError
from workflows.integrations.llm import NO_LLM_MESSAGE, LLMClient
from workflows.tools import REGISTRY, validate_input
from workflows.tools.base import Delivery
from workflows.tools.write import MAX_CONTEXT_CHARS
from workflows.usage import Usage

WRITE = REGISTRY["write"]
ITEMS = [{"title": "New model released", "link": "https://news.example.com/1", "summary": "Big."}]


def test_write_drafts_and_returns_text_an_asset_and_usage(fake, llm, make_ctx):
    fake.enqueue_text("## AI this week: a new model\n\nBig news.", prompt_tokens=600, completion_tokens=80)
    tool_input = {"instructions": "A LinkedIn post about this week's AI news", "context": ITEMS}

    result = WRITE.run(tool_input, make_ctx(llm=llm))

    assert result.output == {"text": "## AI this week: a new model\n\nBig news."}
    (asset,) = result.assets
    assert (asset.kind, asset.mime_type) == ("markdown", "text/markdown")
    assert asset.title == "AI this week: a new model"
    assert asset.content == result.output["text"]
    assert result.usage == Usage(600, 80, pytest.approx((600 * 0.15 + 80 * 0.60) / 1_000_000))
    user = fake.requests[0].messages[1]["content"]
    assert "A LinkedIn post about this week's AI news" in user
    # A reference that kept its native type (a list of items) reaches the model as JSON text.
    assert json.dumps(ITEMS[0]["title"]) in user and "<context>" in user


@pytest.mark.parametrize("text, title", [
    ("**Three trends**\n\nBody", "Three trends"),
    ("---\n\n***\n", "Weekly summary"),  # nothing but marks: the instructions name it
    ("**" + "x" * 300 + "**", "x" * 99 + "…"),
])
def test_the_assets_title(fake, llm, make_ctx, text, title):
    fake.enqueue_text(text)

    result = WRITE.run({"instructions": "Weekly summary\nof the news"}, make_ctx(llm=llm))

    assert result.assets[0].title == title


def test_an_empty_draft_fails_the_step(fake, llm, make_ctx):
    fake.enqueue_text("\n\n")

    with pytest.raises(ToolError, match="returned no text"):
        WRITE.run({"instructions": "Summary"}, make_ctx(llm=llm))


def test_write_without_a_model_refuses_naming_the_settings(make_ctx):
    with pytest.raises(ToolError) as caught:
        WRITE.run({"instructions": "A post"}, make_ctx(llm=None))

    assert str(caught.value) == NO_LLM_MESSAGE
    assert "OPENAI_API_KEY" in str(caught.value) and "OPENAI_BASE_URL" in str(caught.value)


def test_a_busy_model_is_a_retryable_tool_error(fake, llm, make_ctx):
    fake.enqueue_error(429, "Rate limit reached", headers={"Retry-After": "12"})

    with pytest.raises(RetryableToolError, match="Rate limit reached") as caught:
        WRITE.run({"instructions": "A post"}, make_ctx(llm=llm))

    assert caught.value.retry_after == 12.0


def test_a_refusal_fails_the_step(fake, llm, make_ctx):
    fake.enqueue_error(401, "Incorrect API key provided")

    with pytest.raises(ToolError, match=r"refused the request \(401\): Incorrect API key provided"):
        WRITE.run({"instructions": "A post"}, make_ctx(llm=llm))


def test_a_timeout_is_retryable(fake, make_ctx):
    slow = LLMClient("k", fake.base_url, "gpt-4o-mini", timeout=0.3)
    fake.enqueue_text("late", delay=3)

    with pytest.raises(RetryableToolError, match="did not answer"):
        WRITE.run({"instructions": "A post"}, make_ctx(llm=slow))


def test_write_is_registered_read_only_without_approval():
    assert WRITE.needs_approval is False
    assert WRITE.delivery == Delivery.READ_ONLY
    assert WRITE.output_fields == ("text",)


@pytest.mark.parametrize("tool_input, problems", [
    ({"instructions": "Post", "context": "{{ steps[0].output.items }}"}, []),
    ({"instructions": "Post", "context": ITEMS}, []),
    ({"instructions": "Post", "context": "x" * (MAX_CONTEXT_CHARS + 1)},
     [("toolInput.context", f"must be at most {MAX_CONTEXT_CHARS} characters")]),
    ({"context": "x"}, [("toolInput.instructions", "is required")]),
    ({"instructions": "Post", "tone": "dry"},
     [("toolInput.tone", "is not a field of this tool (fields: instructions, context)")]),
])
def test_write_input_schema(tool_input, problems):
    assert validate_input(WRITE, tool_input, partial=False) == problems


def test_a_context_too_long_as_text_fails_the_step(make_ctx):
    class NeverCalled:
        def draft(self, instructions, context):
            raise AssertionError("the model must not be called")

    with pytest.raises(ToolError, match="at most 50000 are accepted") as caught:
        WRITE.run({"instructions": "Post", "context": ["y" * 30_000, "z" * 30_000]}, make_ctx(llm=NeverCalled()))
    assert caught.value.field == "toolInput.context"
