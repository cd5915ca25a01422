"""Rendering helpers shared by the HTML blueprints."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from flask import render_template, request
from flask_login import current_user

from workflows.authoring.definitions import known_timezone

DEFAULT_FORMAT = "%Y-%m-%d %H:%M"


def is_htmx() -> bool:
    """The one place that decides whether a request came from htmx (and wants a fragment)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def page_or_fragment(page: str, fragment: str, **context: Any) -> str:
    """Render the fragment for htmx, the whole page (which includes it) otherwise."""
    return render_template(fragment if is_htmx() else page, **context)


def browser_zone_name() -> str | None:
    """The browser's zone as static/app.js stored it in the `tz` cookie (older pages %-encoded it)."""
    raw = request.cookies.get("tz")
    return unquote(raw) if raw else None


def viewer_zone() -> ZoneInfo:
    """The zone to show times in: the user's setting, else the browser's (`tz` cookie), else UTC."""
    for name in (getattr(current_user, "timezone", None), browser_zone_name()):
        if name and known_timezone(name):
            return ZoneInfo(name)
    return ZoneInfo("UTC")


def localtime(value: datetime | None, fmt: str = DEFAULT_FORMAT, zone: ZoneInfo | None = None) -> str:
    """A timestamp in the viewer's zone, e.g. "2026-12-01 09:00 CET" (the `localtime` filter).

    A template that shows hundreds of times passes `zone=viewer_zone()`, looked up once.
    """
    if value is None:
        return ""
    local = value.astimezone(zone or viewer_zone())
    if fmt == DEFAULT_FORMAT:  # the same text, spelled out: twice as fast as strftime (750 a workflows page)
        return f"{local.year:04}-{local.month:02}-{local.day:02} {local.hour:02}:{local.minute:02} {local.tzname()}"
    return f"{local.strftime(fmt)} {local.tzname()}"
