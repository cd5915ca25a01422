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

NO_SUCH_ID = 0  # ids start at 1 on every database


class IdConverter(IntegerConverter):
    """`<int:id>`: any run of digits; one beyond the id columns' range (0 to MAX_ID) becomes
    NO_SUCH_ID, an id no row has, so the view answers its own 404.

    Refusing it in the converter instead would make Werkzeug answer 405 wherever another method
    shares the path (GET and POST /api/approvals/<id>): it checks methods before converters.
    """

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if 0 <= number <= MAX_ID else NO_SUCH_ID


class TextConverter(UnicodeConverter):
    """`<name>`: one path segment without NUL characters."""

    def __init__(self, map: Any, minlength: int = 1, maxlength: int | None = None,
                 length: int | None = None) -> None:
        super().__init__(map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")


def install(app: Flask) -> None:
    """Use these converters for every route registered after this call."""
    app.url_map.converters.update(int=IdConverter, default=TextConverter, string=TextConverter)
