"""Readable text out of HTML with the standard library's parser (pages and feed summaries)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

# Content that is not the page's text: code, chrome and navigation.
SKIPPED = {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object",
           "nav", "footer", "aside", "form", "button", "select", "head"}
BLOCKS = {"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
          "h6", "tr", "table", "section", "article", "main", "header", "blockquote", "pre",
          "figure", "figcaption", "hr", "address", "details", "summary"}
MAIN = {"main", "article"}
WHITESPACE = re.compile(r"\s+")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class _Extractor(HTMLParser):
    """Collects the title, all visible text, and the text inside <main>/<article>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.h1: list[str] = []
        self.text: list[str] = []
        self.main: list[str] = []
        self._skip = 0
        self._in_main = 0
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, +1)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, -1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self._newline()

    def _tag(self, tag: str, step: int) -> None:
        if tag == "title":
            self._in_title = step > 0
        elif tag == "h1":
            self._in_h1 = step > 0
        if tag in SKIPPED:
            self._skip = max(0, self._skip + step)
        if tag in MAIN:
            self._in_main = max(0, self._in_main + step)
        if tag in BLOCKS:
            self._newline()

    def _newline(self) -> None:
        self.text.append("\n")
        if self._in_main:
            self.main.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        if self._skip:
            return
        data = WHITESPACE.sub(" ", data)  # source line breaks are not paragraph breaks
        if self._in_h1:
            self.h1.append(data)
        self.text.append(data)
        if self._in_main:
            self.main.append(data)


def _collapse(parts: list[str]) -> str:
    """Whitespace collapsed inside lines, empty lines dropped."""
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    return "\n".join(line for line in lines if line)


def readable_text(html: str, max_chars: int) -> tuple[str, str]:
    """The title and the main text of an HTML page, the text cut at `max_chars`."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    title = " ".join("".join(parser.title).split()) or " ".join("".join(parser.h1).split())
    text = _collapse(parser.main) or _collapse(parser.text)
    return title, truncate(text, max_chars)


def strip_tags(html: str, max_chars: int) -> str:
    """Plain one-paragraph text of an HTML fragment, cut at `max_chars`."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    return truncate(" ".join("".join(parser.text).split()), max_chars)


def truncate(text: str, max_chars: int) -> str:
    """Cut text to at most `max_chars` characters, ending with an ellipsis when cut."""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rstrip() + "…"


def sniff_charset(content: bytes) -> str | None:
    """The charset a page declares in a <meta> tag near its top."""
    match = META_CHARSET.search(content[:4096])
    return match.group(1).decode("ascii") if match else None
