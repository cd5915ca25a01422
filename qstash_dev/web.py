"""The small request/reply vocabulary the API handlers speak."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config
    from .db import Database
    from .engine import Engine

__all__ = ["ApiError", "Request", "Reply", "Context"]


class ApiError(Exception):
    """An error answered as `{"error": message}` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    """One parsed API request."""

    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively (the last one wins)."""
        found = None
        for key, value in self.headers:
            if key.lower() == name.lower():
                found = value
        return found

    def arg(self, name: str) -> str | None:
        """A query parameter (the first one)."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self, default: Any = None) -> Any:
        """The body as JSON; an empty body is `default`."""
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "request body is not valid JSON") from None


@dataclass(frozen=True)
class Reply:
    """A JSON reply; `body=None` sends an empty body."""

    status: int = 200
    body: Any = None


@dataclass(frozen=True)
class Context:
    """What handlers work with."""

    db: "Database"
    engine: "Engine"
    config: "Config"
