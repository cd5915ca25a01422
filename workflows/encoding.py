"""Wire encodings: the one strict JSON reader every body goes through, and forgiving base64.

`loads_strict` is what the API, the QStash consumers, cursors and the model's arguments are
parsed with. Python's `json` accepts things that later break us: nesting deep enough to exhaust
the stack (even inside a field nobody reads), `NaN`/`Infinity` (stored, then every list that
shows them is invalid JSON), lone UTF-16 surrogates and NUL characters (no database or encoder
takes them), and integers no database column holds. Each is refused here, with a message.
"""
from __future__ import annotations

import base64
import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64  # arrays and objects inside each other; real bodies need a handful
MAX_INT = 2**63 - 1  # the widest integer column or JSON number we keep (ids are narrower: models.MAX_ID)

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


class JsonError(ValueError):
    """The text is not JSON we accept; the message says why."""


def loads_strict(raw: str | bytes) -> Any:
    """Parse JSON, refusing deep nesting, non-finite numbers, 64-bit overflow, surrogates and NUL."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError("body is not UTF-8") from None
    if nesting_depth(raw) > MAX_DEPTH:
        raise JsonError(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(raw, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except RecursionError:  # unreachable after the depth check; kept so no input can crash us
        raise JsonError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except JsonError:
        raise
    except ValueError as exc:
        raise JsonError(f"not valid JSON: {exc}") from None
    _check_strings(value)
    return value


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text (brackets inside strings don't count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(_DEPTH_STEP[c] for c in brackets))


def _constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON number; use a finite number or null")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # before int(): a 4,000-digit literal costs real time
        raise JsonError(f"integer {text[:30]}… is beyond 64 bits")
    value = int(text)
    if abs(value) > MAX_INT:
        raise JsonError(f"integer {text[:30]}{'…' if len(text) > 30 else ''} is beyond 64 bits")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"number {text[:30]} is too large for a double")
    return value


def _check_strings(value: Any) -> None:
    """Every key and string value must be encodable text without NUL (no recursion: depth is bounded, but be safe)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _check_text(text: str) -> None:
    bad = _BAD_CHARS.search(text)
    if bad is None:
        return
    if bad.group() == "\x00":
        raise JsonError("strings may not contain NUL (\\u0000) characters")
    raise JsonError(f"string holds a lone UTF-16 surrogate (\\u{ord(bad.group()):04x}); send valid Unicode")


def b64decode(text: str, *, urlsafe: bool = False) -> bytes:
    """Decode base64 whether or not its padding was stripped; ValueError when it is not base64."""
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded)
