"""Fixtures for the tool layer: a ToolContext factory and loopback HTTP servers."""
from __future__ import annotations

import ipaddress
import itertools
from typing import Any, Callable, Iterator

import pytest

from tests.support.recorder import RecordedRequest, Recorder
from tests.support.stack_tier import stack_fixture
from tests.support.tool_context import context_factory
from workflows.integrations import guarded_http
from workflows.tools.base import ToolContext

_prefixes = itertools.count(1)


@pytest.fixture
def make_ctx() -> Callable[..., ToolContext]:
    """Build a ToolContext for step 2 of run 7 (tests/support/tool_context.py); keywords override fields."""
    return context_factory()


class Route:
    """One test's own corner of the shared Recorder: every path under a unique prefix."""

    def __init__(self, recorder: Recorder, prefix: str) -> None:
        self._recorder = recorder
        self.prefix = prefix

    @property
    def url(self) -> str:
        """Base URL of this test's corner, e.g. http://127.0.0.1:54321/t7."""
        return self._recorder.url + self.prefix

    @property
    def port(self) -> int:
        """The server's port."""
        return int(self._recorder.url.rsplit(":", 1)[1])

    def path(self, path: str) -> str:
        """A server path of this test ("/hook" -> "/t7/hook")."""
        return self.prefix + path

    def respond(self, path: str, **rule: Any) -> None:
        """Answer requests to `path` as told (see Recorder.respond)."""
        self._recorder.respond(self.path(path), **rule)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests this test's corner received, in arrival order."""
        return [r for r in self._recorder.requests if r.route.startswith(self.prefix + "/")]


@stack_fixture(scope="session")
def shared_recorder() -> Iterator[Recorder]:
    """One loopback server for the session: stopping a Recorder takes half a second."""
    with Recorder() as rec:
        yield rec


@pytest.fixture
def recorder(shared_recorder: Recorder) -> Route:
    """A loopback HTTP server (this test's corner of it) that records requests and answers as told."""
    return Route(shared_recorder, f"/t{next(_prefixes)}")


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat 127.0.0.1 (the test servers) as public, every other address by the real rules.

    The guard stays on (allow_private=False), so a redirect to a private or metadata address
    is refused exactly as in production.
    """
    real = guarded_http.refusal_reason
    loopback = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(guarded_http, "refusal_reason", lambda ip: None if ip == loopback else real(ip))
