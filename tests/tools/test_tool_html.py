"""Readable text from HTML and items from feed documents, without the network."""
from __future__ import annotations

import pytest

from workflows.errors import ToolError
from workflows.tools._html import readable_text, sniff_charset, strip_tags
from workflows.tools.fetch_feed import parse_items

PAGE = """<!doctype html><html><head><title> Big   News </title>
<style>body { color: red }</style><script>var x = "hidden";</script></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<main><h1>Big news</h1><p>First   paragraph
 spans lines.</p><p>Second &amp; last.</p><script>track()</script></main>
<footer>Copyright 2025</footer></body></html>"""


def test_readable_text_keeps_the_title_and_main_text_only():
    assert readable_text(PAGE, 20_000) == ("Big News", "Big news\nFirst paragraph spans lines.\nSecond & last.")


def test_readable_text_without_main_uses_the_body_and_falls_back_to_h1_for_the_title():
    title, text = readable_text("<body><h1>Hi</h1><div>a<br>b</div><aside>ads</aside></body>", 100)
    assert (title, text) == ("Hi", "Hi\na\nb")


def test_readable_text_is_capped():
    _, text = readable_text("<p>" + "word " * 10_000 + "</p>", 1_000)
    assert len(text) == 1_000 and text.endswith("…")


def test_strip_tags_makes_one_line():
    assert strip_tags("<p>Hello <b>world</b></p>\n<p>again</p>", 500) == "Hello world again"


@pytest.mark.parametrize("head, charset", [
    (b'<meta charset="iso-8859-1">', "iso-8859-1"),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">', "windows-1252"),
    (b"<title>none</title>", None),
])
def test_sniff_charset(head, charset):
    assert sniff_charset(b"<html><head>" + head) == charset


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><title>Entry &amp; one</title><link href="/posts/1"/>
<updated>2025-03-09T10:00:00+02:00</updated><summary type="html">&lt;p&gt;Short &lt;b&gt;text&lt;/b&gt;&lt;/p&gt;</summary></entry>
<entry><title>Undated</title><link href="https://b.example/2"/></entry></feed>"""


def test_atom_items_have_absolute_links_utc_dates_and_plain_summaries():
    items = parse_items(ATOM, "https://blog.example/feed", "application/atom+xml")
    assert items == [
        {"title": "Entry & one", "link": "https://blog.example/posts/1", "summary": "Short text",
         "published": "2025-03-09T08:00:00Z"},
        {"title": "Undated", "link": "https://b.example/2", "summary": "", "published": None},
    ]


def test_a_document_that_is_not_a_feed_is_a_tool_error():
    with pytest.raises(ToolError, match="is not an RSS or Atom feed"):
        parse_items(b"<html><body><p>hello</p></body></html>", "https://x.example/", "text/html")


def test_feed_bytes_naming_a_local_file_are_not_opened():
    with pytest.raises(ToolError, match="is not an RSS or Atom feed"):
        parse_items(b"/etc/hostname", "https://x.example/", "text/plain")
