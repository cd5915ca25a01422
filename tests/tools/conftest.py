"""Fixtures for the tool layer: a ToolContext factory."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable

import pytest

from workflows.tools.base import ToolContext

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def make_ctx() -> Callable[..., ToolContext]:
    """Build a ToolContext for step 2 of run 7; keyword arguments override fields."""
    base = ToolContext(
        workflow_id="abc123",
        workflow_goal="Weekly AI digest",
        run_id=7,
        run_started_at=datetime(2025, 3, 10, 7, 59, tzinfo=timezone.utc),
        step_index=2,
        dedup_id="wf-abc123-run-7-step-2",
        owner_email="owner@example.com",
        now=NOW,
        allow_private_urls=True,
    )

    def build(**overrides: Any) -> ToolContext:
        return replace(base, **overrides)

    return build
