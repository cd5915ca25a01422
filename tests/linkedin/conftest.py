"""Fixtures for LinkedIn: the app pointed at the stand-in (`standin`, tests/conftest.py), a ToolContext factory."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from extensions import db
from models import User
from tests.support.linkedin_standin import LinkedInStandIn
from tests.support.tool_context import context_factory
from workflows.tools.base import ToolContext

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


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
    return context_factory(workflow_goal="Weekly AI post", run_started_at=NOW, step_index=1,
                           owner_email="ada@example.com", now=NOW, allow_private_urls=False,
                           linkedin_api_base=standin.api_base)


@pytest.fixture
def connected(standin: LinkedInStandIn) -> dict[str, Any]:
    """The `credentials` of a step whose owner connected LinkedIn (a live stand-in token)."""
    return {"linkedin": {"access_token": standin.issue_token(), "member_id": standin.member_id,
                         "expires_at": None}}
