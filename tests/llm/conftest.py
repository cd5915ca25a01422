"""Fixtures for the language-model layer: a client on the scripted server (`fake`, tests/conftest.py), a plan checker."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.tool_context import NOW, context_factory
from workflows.engine import references
from workflows.integrations.llm import LLMClient
from workflows.tools import REGISTRY, validate_input
from workflows.tools.base import ToolContext


@pytest.fixture(scope="session")
def llm(fake_server: FakeOpenAI) -> LLMClient:
    """The real client (the openai SDK) pointed at the fake server; shared, as building one is slow."""
    return LLMClient(api_key="test-key", base_url=fake_server.base_url, model="gpt-4o-mini", timeout=5.0)


def check_plan(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The checks a user-written plan gets: known tools, inputs, references to earlier steps."""
    problems: list[tuple[str, str]] = []
    for index, step in enumerate(steps):
        tool = REGISTRY.get(step.get("toolName"))
        if tool is None:
            problems.append((f"steps[{index}].toolName", "is not a known tool"))
            continue
        problems += [(f"steps[{index}].{path}", text) for path, text in
                     validate_input(tool, step["toolInput"], partial=True, allow_missing=True)]
    return problems + references.check_references(steps)


@pytest.fixture
def validate() -> Callable[[list[dict[str, Any]]], list[tuple[str, str]]]:
    return check_plan


@pytest.fixture
def make_ctx() -> Callable[..., ToolContext]:
    """A ToolContext for step 1 of run 7 (tests/support/tool_context.py); keywords override fields."""
    return context_factory(workflow_id="wf1", step_index=1, run_started_at=NOW)
