"""The stack tier (tests/support/stack_tier.py), checked on a small suite run by a real pytest.

A test that uses a stack fixture, even through another fixture, is in the tier without a mark;
one outside it that starts a server or a process fails, and so does the whole run where the code
swallowed the refusal.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack  # it runs pytest in a process

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFTEST = """
from tests.support.stack_tier import StackTier


def pytest_configure(config):
    config.pluginmanager.register(StackTier(), "stack-tier")
"""
SUITE = '''
import socket
import subprocess
import sys

import pytest

from tests.support.stack_tier import stack_fixture


@stack_fixture
def listening():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


@pytest.fixture
def through_another(listening):
    return listening.getsockname()


def test_uses_a_stack_fixture(through_another):
    assert through_another[0] == "127.0.0.1"


@pytest.mark.stack
def test_marked_by_hand():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_listens_unmarked():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()


def test_swallows_the_refusal():
    try:
        subprocess.run([sys.executable, "-c", "pass"])
    except Exception:
        pass


def test_starts_nothing():
    assert sum([1, 1]) == 2
'''


@pytest.fixture
def run_suite(tmp_path: Path):
    """Run the small suite with the stack tier plugin; (exit code, output)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    stack: starts servers\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_suite.py").write_text(SUITE)

    def run(*args: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "300"})
        return done.returncode, done.stdout + done.stderr

    return run


def test_stack_fixtures_mark_their_tests_and_not_stack_deselects_them(run_suite):
    code, output = run_suite("-m", "not stack")
    assert "2 deselected" in output, output
    for name in ("test_uses_a_stack_fixture", "test_marked_by_hand"):
        assert name not in output
    assert "PASSED test_suite.py::test_starts_nothing" in output
    assert code == 1


def test_starting_a_server_outside_the_tier_fails_the_test_and_names_it(run_suite):
    code, output = run_suite("-k", "listens_unmarked or uses_a_stack_fixture or marked_by_hand")
    assert "FAILED test_suite.py::test_listens_unmarked - tests.support.stack_tier.StackTierViolation" in output
    assert "test_suite.py::test_listens_unmarked listened on 127.0.0.1:" in output
    assert "PASSED test_suite.py::test_uses_a_stack_fixture" in output
    assert "PASSED test_suite.py::test_marked_by_hand" in output
    assert code == 1


def test_a_swallowed_refusal_still_fails_the_run(run_suite):
    code, output = run_suite("-k", "swallows")
    assert "PASSED test_suite.py::test_swallows_the_refusal" in output
    assert "stack tier violations" in output
    assert f"test_suite.py::test_swallows_the_refusal started a process ({sys.executable} -c pass)" in output
    assert code == 1


def test_a_clean_fast_tier_says_so(run_suite):
    code, output = run_suite("-m", "not stack", "-k", "starts_nothing")
    assert "stack guard: 1 tests outside the stack tier opened no listening socket and started no process" in output
    assert code == 0
