"""Rendering helpers shared by the HTML blueprints."""
from __future__ import annotations

from typing import Any

from flask import render_template, request


def is_htmx() -> bool:
    """The one place that decides whether a request came from htmx (and wants a fragment)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def page_or_fragment(page: str, fragment: str, **context: Any) -> str:
    """Render the fragment for htmx, the whole page (which includes it) otherwise."""
    return render_template(fragment if is_htmx() else page, **context)
