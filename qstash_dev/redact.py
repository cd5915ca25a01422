"""`Upstash-Redact-Fields`: parts of a message hidden from every read, still delivered as sent.

`body`, `header` (or `headers`: all of them) and `header[Name]` (one, by name). A
hidden value reads `REDACTED:<hex SHA-256 of the value>`, as QStash shows it, so a
client can still check what was sent without seeing it. The original stays in the
database: deliveries, retries and DLQ retries send it unchanged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["Redaction", "RedactionError", "hidden"]

_ONE_HEADER = re.compile(r"headers?\[([^\[\]]+)\]", re.IGNORECASE)


class RedactionError(ValueError):
    """An `Upstash-Redact-Fields` part that is not body, header or header[Name]."""


def hidden(value: bytes) -> str:
    """What a redacted value reads as."""
    return "REDACTED:" + hashlib.sha256(value).hexdigest()


@dataclass(frozen=True)
class Redaction:
    """Which parts of a message are hidden from reads."""

    body: bool = False
    all_headers: bool = False
    headers: frozenset[str] = frozenset()  # lower-case names

    @classmethod
    def parse(cls, text: str | None) -> "Redaction | None":
        """`body, header[Authorization]` and the like; None when absent or empty."""
        body, all_headers, names = False, False, set()
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            one = _ONE_HEADER.fullmatch(part)
            if part.lower() == "body":
                body = True
            elif part.lower() in ("header", "headers"):
                all_headers = True
            elif one and one.group(1).strip():
                names.add(one.group(1).strip().lower())
            else:
                raise RedactionError(f"Upstash-Redact-Fields: {part!r} is not body, header or header[Name]")
        if not (body or all_headers or names):
            return None
        return cls(body, all_headers, frozenset(names))

    def __str__(self) -> str:
        """The normalized header value, as stored."""
        parts = (["body"] if self.body else []) + (["header"] if self.all_headers else [])
        return ",".join(parts + [f"header[{name}]" for name in sorted(self.headers)])

    def apply_body(self, body: bytes) -> bytes:
        """The body as reads show it."""
        return hidden(body).encode() if self.body and body else body

    def apply_headers(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The headers as reads show them."""
        return [(name, hidden(value.encode()) if self.all_headers or name.lower() in self.headers else value)
                for name, value in pairs]
