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
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "300",
                                   "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})  # 0.2 s a run, not 1 s
        return done.returncode, done.stdout + done.stderr

    return run


VIOLATION = "tests.support.stack_tier.StackTierViolation"
SCENARIOS = {  # what a run shows (and must not show), and its exit code
    "stack fixtures mark their tests, even through another fixture; -m 'not stack' deselects them": (
        ["-m", "not stack"], ["3 selected", "2 deselected", "PASSED test_suite.py::test_starts_nothing"],
        ["test_uses_a_stack_fixture", "test_marked_by_hand"], 1),
    "starting a server outside the tier fails the test, naming it; inside it is allowed": (
        ["-k", "listens_unmarked or uses_a_stack_fixture or marked_by_hand"],
        [f"FAILED test_suite.py::test_listens_unmarked - {VIOLATION}",
         "test_suite.py::test_listens_unmarked listened on 127.0.0.1:",
         "PASSED test_suite.py::test_uses_a_stack_fixture", "PASSED test_suite.py::test_marked_by_hand"], [], 1),
    "a refusal the code swallowed still fails the run": (
        ["-k", "swallows"],
        ["PASSED test_suite.py::test_swallows_the_refusal", "stack tier violations",
         f"test_suite.py::test_swallows_the_refusal started a process ({sys.executable} -c pass)"], [], 1),
    "a clean fast tier says so": (
        ["-m", "not stack", "-k", "starts_nothing"],
        ["stack guard: 1 tests outside the stack tier opened no listening socket and started no process"],
        ["stack tier violations"], 0),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_stack_tier(run_suite, scenario):
    args, shown, not_shown, exit_code = SCENARIOS[scenario]
    code, output = run_suite(*args)
    for line in shown:
        assert line in output, output
    for line in not_shown:
        assert line not in output, output
    assert code == exit_code, output
