"""Fixtures for the language-model layer: the scripted server, a client on it, a plan checker."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI
from workflows.engine import references
from workflows.integrations.llm import LLMClient
from workflows.tools import REGISTRY, validate_input
from workflows.tools.base import ToolContext


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The scripted OpenAI-compatible server on loopback, with an empty script."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


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
    """A ToolContext for step 1 of run 7; keyword arguments override fields."""
    def build(**overrides: Any) -> ToolContext:
        now = datetime(2025, 3, 10, 8, 0, tzinfo=timezone.utc)
        fields: dict[str, Any] = dict(
            workflow_id="wf1", workflow_goal="Weekly AI digest", run_id=7, run_started_at=now,
            step_index=1, dedup_id="wf-wf1-run-7-step-1", owner_email="owner@example.com", now=now,
            allow_private_urls=True,
        )
        fields.update(overrides)
        return ToolContext(**fields)

    return build
