"""Fixtures for LinkedIn: the stand-in servers, the app pointed at them, a ToolContext factory."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa

from extensions import db
from models import User
from tests.support.linkedin_standin import LinkedInStandIn
from workflows.tools.base import ToolContext

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def standin() -> Iterator[LinkedInStandIn]:
    """LinkedIn's OAuth and REST endpoints on loopback."""
    with LinkedInStandIn() as li:
        yield li


@pytest.fixture
def app(app, standin: LinkedInStandIn):
    """The app (on empty tables) with its LinkedIn app and API pointed at the stand-in."""
    app.config["SETTINGS"] = replace(
        app.config["SETTINGS"],
        linkedin_auth_base=standin.auth_base,
        linkedin_api_base=standin.api_base,
        linkedin_client_id=standin.client_id,
        linkedin_client_secret=standin.client_secret,
    )
    return app


@pytest.fixture
def user_id(app, auth) -> int:
    """Register and log in Ada; her user id."""
    auth.register()
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == "ada@example.com"))


@pytest.fixture
def make_ctx(standin: LinkedInStandIn) -> Callable[..., ToolContext]:
    """A ToolContext for step 1 of run 7, LinkedIn at the stand-in; keywords override fields."""
    base = ToolContext(
        workflow_id="abc123", workflow_goal="Weekly AI post", run_id=7,
        run_started_at=NOW, step_index=1, dedup_id="wf-abc123-run-7-step-1",
        owner_email="ada@example.com", now=NOW, allow_private_urls=False,
        linkedin_api_base=standin.api_base,
    )

    def build(**overrides: Any) -> ToolContext:
        return replace(base, **overrides)

    return build


@pytest.fixture
def connected(standin: LinkedInStandIn) -> dict[str, Any]:
    """The `credentials` of a step whose owner connected LinkedIn (a live stand-in token)."""
    return {"linkedin": {"access_token": standin.issue_token(), "member_id": standin.member_id,
                         "expires_at": None}}
