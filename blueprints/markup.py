"""Markdown to safe HTML for pages: markdown-it-py renders, nh3 (ammonia) sanitises.

Raw HTML in the Markdown is not rendered at all, and whatever markdown-it makes is cleaned
again by nh3, so text produced by a model or fetched from the web can never run a script or
carry a style into the page.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from markupsafe import Markup


@lru_cache(maxsize=1)
def _markdown() -> Any:
    # Imported when the first asset is shown, not at start-up: most requests (every step
    # delivery) never render Markdown, and the two weigh 2 MiB (docs/architecture.md, *Serving layout*).
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def markdown_html(text: str | None) -> Markup:
    """Markdown as sanitised HTML, safe to put in a template (the `markdown` filter)."""
    if not text:
        return Markup("")
    import nh3

    return Markup(nh3.clean(_markdown().render(text), link_rel="noopener noreferrer nofollow"))
