"""Fixtures of the reliability suite, and the figures summary printed at the end of the run."""
from __future__ import annotations

from tests.reliability import figures


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    figures.terminal_summary(terminalreporter)

