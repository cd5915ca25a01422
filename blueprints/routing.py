"""URL converters every route uses: path values that no column can hold never reach the database.

They replace Flask's defaults (`<int:...>` and plain `<name>`), so a route added later is
covered without anyone remembering to: an id beyond the id columns' 32 bits, or a segment with a NUL byte (which
PostgreSQL refuses as text), is a 404 like any other id that does not exist.
"""
from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, UnicodeConverter

from models import MAX_ID


class IdConverter(IntegerConverter):
    """`<int:id>`: 0 to MAX_ID, the range of the id columns on every database."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


class TextConverter(UnicodeConverter):
    """`<name>`: one path segment without NUL characters."""

    def __init__(self, map: Any, minlength: int = 1, maxlength: int | None = None,
                 length: int | None = None) -> None:
        super().__init__(map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")


def install(app: Flask) -> None:
    """Use these converters for every route registered after this call."""
    app.url_map.converters.update(int=IdConverter, default=TextConverter, string=TextConverter)
