"""The console guard of these tests sees CSP violations, and htmx runs under the strict CSP."""
from __future__ import annotations

from playwright.sync_api import Page


def test_htmx_runs_and_an_inline_script_is_refused_and_reported(page: Page, console):
    response = page.goto("/auth/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.evaluate("window.htmx && window.htmx.version") == "2.0.11"
    assert page.evaluate("htmx.config.allowEval") is False

    # What a template with an inline script would do: the CSP blocks it and Chromium says so in
    # the console, which is why every other test failing on console errors proves the CSP holds.
    with page.expect_console_message(lambda message: message.type == "error"):
        page.evaluate("""() => {
            const script = document.createElement('script');
            script.textContent = 'window.__inlineRan = true';
            document.body.appendChild(script);
        }""")
    assert page.evaluate("window.__inlineRan") is None
    errors = console.take()
    assert len(errors) == 1 and "Content Security Policy" in errors[0], errors
