"""Retry delays: Upstash's default backoff and `Upstash-Retry-Delay` expressions.

An expression is arithmetic in milliseconds over the variable `retried` (0 for the
first retry), e.g. `1000 * (1 + retried)` or `min(5000, pow(2, retried) * 100)`.
It is evaluated by walking Python's AST with a whitelist, never with eval().
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Callable

__all__ = ["MAX_DELAY_SECONDS", "default_backoff", "validate_expression", "evaluate_ms"]

MAX_DELAY_SECONDS = 86400.0  # Upstash caps every retry delay at one day.
_MAX_EXPRESSION_LENGTH = 500
_MAX_EXPONENT = 1000  # pow(2, 1e9) would take a while to compute and mean nothing.

_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type, Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _pow(base: float, exponent: float) -> float:
    """pow() with a bound on the exponent."""
    if abs(exponent) > _MAX_EXPONENT:
        raise ValueError("exponent too large")
    return math.pow(base, exponent)


_FUNCTIONS: dict[str, Callable[..., float]] = {
    "pow": _pow,
    "sqrt": math.sqrt,
    "abs": abs,
    "exp": lambda x: math.exp(min(x, 700.0)),
    "floor": math.floor,
    "ceil": math.ceil,
    "round": round,
    "min": min,
    "max": max,
}


def default_backoff(retry_number: int) -> float:
    """Upstash's documented delay in seconds before retry n (n starts at 1)."""
    return min(MAX_DELAY_SECONDS, math.exp(2.5 * retry_number))


def validate_expression(expression: str) -> None:
    """Raise ValueError with a readable message if the expression cannot be evaluated."""
    evaluate_ms(expression, 0)


def evaluate_ms(expression: str, retried: int) -> float:
    """Evaluate a retry-delay expression to milliseconds (never negative)."""
    if len(expression) > _MAX_EXPRESSION_LENGTH:
        raise ValueError("retry delay expression is too long")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"retry delay {expression!r} is not a valid expression") from None
    try:
        value = _eval(tree.body, float(retried))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise ValueError(f"retry delay {expression!r} cannot be evaluated: {exc}") from None
    if not math.isfinite(value):
        raise ValueError(f"retry delay {expression!r} is not a finite number")
    return max(0.0, float(value))


def _eval(node: ast.AST, retried: float) -> float:
    """Evaluate one whitelisted node."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id == "retried":
        return retried
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, retried), _eval(node.right, retried))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _pow(_eval(node.left, retried), _eval(node.right, retried))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, retried))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and node.args
    ):
        args = [_eval(arg, retried) for arg in node.args]
        return float(_FUNCTIONS[node.func.id](*args))
    raise ValueError(f"{ast.unparse(node)!r} is not allowed (use numbers, retried, + - * / and "
                     "pow, sqrt, abs, exp, floor, ceil, round, min, max)")
