"""The figures the reliability and security suites report at the end of their output.

Tests add to one tally as they go (`record("faults injected", 3)`); a count of something bad
(`500s seen`, `duplicate side effects`...) is recorded even when it is 0, so the summary shows
that it was looked for. Timings are reported, never asserted.
"""
from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_notes: dict[str, str] = {}
_printed = False
_maxima: dict[str, float] = {}

ORDER = ("faults injected", "faults survived", "runs under load", "steps under load",
         "duplicate side effects", "lost messages", "stuck steps", "fuzz cases", "form fuzz cases", "500s seen",
         "rows written by rejected requests", "leaks", "access matrix cells", "CSRF cases", "token cases",
         "session cases", "signature cases", "SSRF cases")


def record(name: str, count: int = 1) -> None:
    """Add `count` to a figure (0 still makes it appear)."""
    with _lock:
        _counts[name] += count


def note(name: str, text: str) -> None:
    """A measured value to show as is (wall time, steps/s, slowest response)."""
    with _lock:
        _notes[name] = text


def terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Print the figures once, however many conftests ask."""
    global _printed
    if _printed or not (_counts or _notes):
        return
    _printed = True
    terminalreporter.section("reliability and security figures")
    for line in lines():
        terminalreporter.write_line(line)


def slowest(name: str, seconds: float) -> None:
    """Keep the largest time seen under `name`."""
    with _lock:
        _maxima[name] = max(_maxima.get(name, 0.0), seconds)
        _notes[name] = f"{_maxima[name] * 1000:.0f} ms" if _maxima[name] < 1 else f"{_maxima[name]:.2f} s"


def lines() -> list[str]:
    """The summary, known figures first."""
    with _lock:
        names = [n for n in ORDER if n in _counts] + sorted(n for n in _counts if n not in ORDER)
        out = [f"{name:>34}: {_counts[name]:,}" for name in names]
        out += [f"{name:>34}: {text}" for name, text in sorted(_notes.items())]
    return out
