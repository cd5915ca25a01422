"""Markdown to safe HTML for pages: markdown-it-py renders, nh3 (ammonia) sanitises.

Raw HTML in the Markdown is not rendered at all, and whatever markdown-it makes is cleaned
again by nh3, so text produced by a model or fetched from the web can never run a script or
carry a style into the page.
"""
from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def markdown_html(text: str | None) -> Markup:
    """Markdown as sanitised HTML, safe to put in a template (the `markdown` filter)."""
    if not text:
        return Markup("")
    return Markup(nh3.clean(_markdown.render(text), link_rel="noopener noreferrer nofollow"))
