"""fetch_feed and fetch_page against real loopback servers."""
from __future__ import annotations

from datetime import datetime

import pytest

from workflows.errors import RetryableToolError, ToolError
from workflows.tools import REGISTRY

fetch_feed = REGISTRY["fetch_feed"]
fetch_page = REGISTRY["fetch_page"]
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def rss(*items: tuple[str, str, str | None]) -> str:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        f"<description>&lt;p&gt;About &lt;em&gt;{title}&lt;/em&gt;&lt;/p&gt;</description>"
        + (f"<pubDate>{date}</pubDate>" if date else "") + "</item>"
        for title, link, date in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{entries}</channel></rss>'


FEED = rss(
    ("Three", "https://news.example/3", "Mon, 10 Mar 2025 06:00:00 GMT"),
    ("Two", "https://news.example/2", "Sun, 09 Mar 2025 12:00:00 +0100"),
    ("Undated", "https://news.example/u", None),
    ("One", "https://news.example/1", "Sat, 01 Mar 2025 00:00:00 GMT"),
)


def test_fetch_feed_returns_items(recorder, make_ctx):
    recorder.respond("/feed.xml", body=FEED, headers=RSS_TYPE)
    result = fetch_feed.run({"url": recorder.url + "/feed.xml"}, make_ctx())
    assert result.output["items"][:2] == [
        {"title": "Three", "link": "https://news.example/3", "summary": "About Three",
         "published": "2025-03-10T06:00:00Z"},
        {"title": "Two", "link": "https://news.example/2", "summary": "About Two",
         "published": "2025-03-09T11:00:00Z"},
    ]
    assert result.output["items"][2]["published"] is None
    assert len(result.output["items"]) == 4
    [request] = recorder.requests
    assert "application/rss+xml" in request.header("accept")


def test_fetch_feed_limit(recorder, make_ctx):
    recorder.respond("/feed.xml", body=FEED, headers=RSS_TYPE)
    result = fetch_feed.run({"url": recorder.url + "/feed.xml", "limit": 2}, make_ctx())
    assert [item["title"] for item in result.output["items"]] == ["Three", "Two"]


def test_fetch_feed_summaries_are_truncated(recorder, make_ctx):
    recorder.respond("/long.xml", body=rss(("Long " + "word " * 300, "https://x.example/l", None)), headers=RSS_TYPE)
    [item] = fetch_feed.run({"url": recorder.url + "/long.xml"}, make_ctx()).output["items"]
    assert len(item["summary"]) == 500 and item["summary"].endswith("…")


def test_since_last_run_keeps_newer_items_and_never_repeats_a_link(recorder, make_ctx):
    recorder.respond("/feed.xml", body=FEED, headers=RSS_TYPE)
    ctx = make_ctx(previous_run_started_at=datetime(2025, 3, 9, 0, 0),  # naive, as SQLite returns it
                   previous_run_links=frozenset({"https://news.example/3"}))
    tool_input = {"url": recorder.url + "/feed.xml", "sinceLastRun": True}
    items = fetch_feed.run(tool_input, ctx).output["items"]
    # Three: used last time; Two: newer; Undated: no date, new link; One: older than the last run.
    assert [item["title"] for item in items] == ["Two", "Undated"]


def test_since_last_run_without_a_previous_run_keeps_everything(recorder, make_ctx):
    recorder.respond("/feed.xml", body=FEED, headers=RSS_TYPE)
    items = fetch_feed.run({"url": recorder.url + "/feed.xml", "sinceLastRun": True}, make_ctx()).output["items"]
    assert len(items) == 4


def test_a_page_that_is_not_a_feed_fails_the_step(recorder, make_ctx):
    recorder.respond("/page", body="<html><body>Hi</body></html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ToolError, match="is not an RSS or Atom feed"):
        fetch_feed.run({"url": recorder.url + "/page"}, make_ctx())


@pytest.mark.parametrize("tool", [fetch_feed, fetch_page], ids=lambda t: t.name)
def test_a_404_fails_the_step(recorder, make_ctx, tool):
    recorder.respond("/missing", status=404, body="Not Found")
    with pytest.raises(ToolError, match=r"^HTTP 404 from 127\.0\.0\.1: Not Found$"):
        tool.run({"url": recorder.url + "/missing"}, make_ctx())


@pytest.mark.parametrize("tool", [fetch_feed, fetch_page], ids=lambda t: t.name)
def test_a_503_is_retryable_with_retry_after(recorder, make_ctx, tool):
    recorder.respond("/busy", status=503, headers={"Retry-After": "30"})
    with pytest.raises(RetryableToolError) as caught:
        tool.run({"url": recorder.url + "/busy"}, make_ctx())
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize("tool", [fetch_feed, fetch_page], ids=lambda t: t.name)
def test_the_guard_applies_unless_private_urls_are_allowed(recorder, make_ctx, tool):
    with pytest.raises(ToolError, match="refused: 127.0.0.1 is a loopback address"):
        tool.run({"url": recorder.url + "/x"}, make_ctx(allow_private_urls=False))
    assert recorder.requests == []


PAGE = """<html><head><meta charset="iso-8859-1"><title>Caf\xe9 news</title></head>
<body><nav>Menu</nav><article><h1>Caf\xe9</h1><p>Fresh   beans.</p><script>x()</script></article>
<footer>Legal</footer></body></html>"""


def test_fetch_page_returns_title_and_main_text(recorder, make_ctx):
    recorder.respond("/a", body=PAGE.encode("iso-8859-1"), headers={"Content-Type": "text/html"})
    result = fetch_page.run({"url": recorder.url + "/a"}, make_ctx())
    assert result.output == {"title": "Café news", "text": "Café\nFresh beans."}


def test_fetch_page_caps_the_text(recorder, make_ctx):
    recorder.respond("/long", body="<p>" + "lorem " * 5_000 + "</p>", headers={"Content-Type": "text/html"})
    text = fetch_page.run({"url": recorder.url + "/long"}, make_ctx()).output["text"]
    assert len(text) == 20_000


def test_fetch_page_returns_plain_text_as_is(recorder, make_ctx):
    recorder.respond("/notes.txt", body="line one\nline two\n", headers={"Content-Type": "text/plain"})
    result = fetch_page.run({"url": recorder.url + "/notes.txt"}, make_ctx())
    assert result.output == {"title": "", "text": "line one\nline two"}


def test_fetch_page_refuses_binary_content(recorder, make_ctx):
    recorder.respond("/logo.png", body=b"\x89PNG\r\n", headers={"Content-Type": "image/png"})
    with pytest.raises(ToolError, match=r'is not a web page or text \(content type "image/png"\)'):
        fetch_page.run({"url": recorder.url + "/logo.png"}, make_ctx())
