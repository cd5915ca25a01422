"""Retry delays: the documented default backoff and safe Upstash-Retry-Delay expressions."""

from __future__ import annotations

import math

import pytest

from qstash_dev.retry_delay import default_backoff, evaluate_ms


@pytest.mark.parametrize(("expression", "retried", "expected_ms"), [
    ("1000", 3, 1000),
    ("1000 * (1 + retried)", 0, 1000),
    ("1000 * (1 + retried)", 2, 3000),
    ("pow(2, retried) * 100", 3, 800),
    ("2 ** retried", 4, 16),
    ("min(5000, pow(2, retried) * 1000)", 10, 5000),
    ("max(10, pow(2, retried))", 1, 10),
    ("exp(retried)", 1, math.e),
    ("sqrt(16) + abs(-4) + floor(1.7) + ceil(1.2) + round(2.6)", 0, 4 + 4 + 1 + 2 + 3),
    ("-retried * 1000", 2, 0),  # a negative delay means "now"
])
def test_expressions_evaluate_to_milliseconds(expression: str, retried: int, expected_ms: float) -> None:
    assert evaluate_ms(expression, retried) == pytest.approx(expected_ms)


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')",
    "retried.__class__",
    "open('/etc/passwd')",
    "(lambda: 1)()",
    "[1, 2][0]",
    "pow(2, 100000)",
    "1 / 0",
    "sqrt(-1)",
    "unknown(1)",
    "1000 *",
    "x * 1000",
    "1e308 * 1e308",
])
def test_unsafe_or_broken_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ValueError):
        evaluate_ms(expression, 1)


def test_default_backoff_is_upstashs_documented_curve() -> None:
    assert default_backoff(1) == pytest.approx(math.exp(2.5))  # ~12 s
    assert default_backoff(2) == pytest.approx(math.exp(5))  # ~2 min 28 s
    assert default_backoff(3) == pytest.approx(math.exp(7.5))  # ~30 min
    assert default_backoff(5) == 86400  # capped at a day
