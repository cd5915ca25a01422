"""The dev mailbox: the outbox as a person reads it, with each email's HTML made safe to show
inline in a dashboard page (nh3), links kept working."""
from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa

from models import Outbox, User
from workflows.authoring.pagination import Page, paginate

TAGS = {"a", "p", "br", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
        "h1", "h2", "h3", "h4", "table", "thead", "tbody", "tr", "th", "td", "hr", "small", "dl", "dt", "dd", "span",
        "ins", "del"}  # ins/del: what changed since the last approved version
ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def mailbox_for(user: User, limit: int = 20, cursor: str | None = None) -> Page:
    """Mail addressed to the user (account or verified notification address), newest first."""
    addresses = {user.email, user.notify_address}
    return paginate(sa.select(Outbox).where(Outbox.to.in_(addresses)), [Outbox.id], limit, cursor)


def safe_html(html: str, base_url: str) -> str:
    """Sanitised email HTML; links to this app become relative, so they work on any host name."""
    import nh3  # only the dev mailbox shows mail: not loaded at start-up (blueprints/markup.py)

    def relative(tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href" and value.startswith(base_url + "/"):
            parts = urlsplit(value)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return value

    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, attribute_filter=relative,
                     clean_content_tags={"script", "style", "title"},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")
