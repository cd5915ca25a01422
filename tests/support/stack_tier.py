"""The `stack` tier: tests that start a server, a browser or another process; a guard for the rest.

A test is in the stack tier when it is marked `@pytest.mark.stack`, or, without anyone having to
remember it, when it uses (directly or through other fixtures) a fixture declared with
`stack_fixture` instead of `pytest.fixture`:

    @stack_fixture(scope="session")
    def fake_server() -> Iterator[FakeOpenAI]: ...

Every other test, and collection itself, runs under a guard: listening on a socket, starting a
subprocess or forking raises `StackTierViolation` naming the test, and the session fails even
where the code under test swallowed the error. So `-m "not stack"` proves that the fast tier
started nothing, and a new test that starts a server without saying so fails in every run.
"""
from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
from typing import Any, Callable, Iterator

import pytest

__all__ = ["STACK_FIXTURES", "StackTier", "StackTierViolation", "stack_fixture"]

# Names of the fixtures that start servers, browsers or processes (filled in as modules import).
STACK_FIXTURES: set[str] = set()


def stack_fixture(function: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """`pytest.fixture` for a fixture that starts a server, a browser or a process."""
    def declare(fn: Callable[..., Any]) -> Any:
        STACK_FIXTURES.add(kwargs.get("name") or fn.__name__)
        return pytest.fixture(fn, **kwargs)

    return declare(function) if function is not None else declare


class StackTierViolation(Exception):
    """A test outside the stack tier tried to start a server or a process."""


def _render_sandbox() -> bool:
    """The template renderer's own fork (workflows/engine/bounded.py): part of rendering, not a
    server; the child renders, answers through a pipe and exits within the render's budget."""
    caller = sys._getframe(2).f_code.co_filename  # 0: here, 1: the guard, 2: who called os.fork
    return caller.endswith(os.path.join("workflows", "engine", "bounded.py"))


def _describe_listen(sock: socket.socket, *args: Any, **kwargs: Any) -> str:
    host, port = sock.getsockname()[:2]
    return f"listened on {host}:{port}"


def _describe_process(popen: subprocess.Popen, command: Any, *args: Any, **kwargs: Any) -> str:
    shown = command if isinstance(command, (str, bytes)) else " ".join(map(str, command))
    return f"started a process ({shown})"


class StackTier:
    """The pytest plugin: marks the stack tier at collection and guards everything else."""

    def __init__(self) -> None:
        self.current = "collection"  # a test's node id while one runs
        self.allowed = False
        self.guarded = 0  # tests that ran under the guard
        self.violations: list[str] = []
        self._undo: list[Callable[[], None]] = []
        self._guard(socket.socket, "listen", _describe_listen)
        self._guard(subprocess.Popen, "_execute_child", _describe_process)
        self._guard(os, "fork", lambda *a, **k: "forked the test process", allow=_render_sandbox)
        self._guard(os, "system", lambda command, *a, **k: f"ran a shell command ({command})")

    def _guard(self, owner: Any, name: str, describe: Callable[..., str],
               allow: Callable[[], bool] = lambda: False) -> None:
        """Put a check in front of `owner.name`, undone at the end of the session."""
        own = name in vars(owner)
        original = getattr(owner, name)
        tier = self

        @functools.wraps(original)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not tier.allowed and not allow():
                tier.refuse(describe(*args, **kwargs))
            return original(*args, **kwargs)

        setattr(owner, name, guarded)
        self._undo.append(lambda: setattr(owner, name, original) if own else delattr(owner, name))

    def refuse(self, what: str) -> None:
        """Record and raise a violation by the test now running."""
        message = (f"{self.current} {what} outside the stack tier: use a fixture declared with "
                   "stack_fixture (tests/support/stack_tier.py) or mark the test @pytest.mark.stack")
        self.violations.append(message)
        raise StackTierViolation(message)

    @pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Mark every test that uses a stack fixture, however indirectly."""
        for item in items:
            if STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.stack)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        """Lift the guard for a stack test only (its setup, call and teardown)."""
        self.current = item.nodeid
        self.allowed = item.get_closest_marker("stack") is not None
        self.guarded += not self.allowed
        try:
            return (yield)
        finally:
            self.allowed, self.current = False, "between tests"

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A violation fails the run even if the test swallowed the exception."""
        if self.violations and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Say what the guard saw: the proof that the fast tier started nothing."""
        if self.violations:
            terminalreporter.section("stack tier violations", sep="=", red=True)
            for line in self.violations:
                terminalreporter.write_line(line)
        else:
            terminalreporter.write_line(f"stack guard: {self.guarded} tests outside the stack tier "
                                        "opened no listening socket and started no process")

    def pytest_unconfigure(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
