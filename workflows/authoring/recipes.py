"""Recipes: complete workflows that run without a language model, to start from.

Each recipe is the API's workflow body (`{goal, schedule, overlap, steps}`), so the form that
opens prefilled with it (`/workflows/new?recipe=<name>`) saves it through the same validation as
everything else. Steps that mail "me" are addressed to the user who opens the recipe. Approval
follows each tool's policy: the email, webhook and LinkedIn steps wait for a person's OK.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Steps = Callable[[str], list[dict[str, Any]]]

PYTHON_BLOG = "https://blog.python.org/feeds/posts/default"
AI_NEWS = "https://news.mit.edu/rss/topic/artificial-intelligence2"
HACKER_NEWS = "https://hnrss.org/frontpage"
WATCHED_PAGE = "https://www.python.org/downloads/"
WEBHOOK = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


@dataclass(frozen=True)
class Recipe:
    """A named, ready-to-run workflow; `steps(email)` addresses "me" to the user."""

    name: str
    title: str
    description: str
    goal: str
    schedule: str
    steps: Steps
    needs_network: bool = True

    def data(self, email: str) -> dict[str, Any]:
        """The workflow body the form opens with (the API's shape)."""
        return {"goal": self.goal, "schedule": self.schedule, "overlap": "skip", "steps": self.steps(email)}


def _weekly_note(email: str) -> list[dict[str, Any]]:
    return [
        {"toolName": "compose", "toolInput": {"template": (
            "Good morning! Your note for the week of {{ now.strftime('%d %B %Y') }}.\n\n"
            "Three things that matter this week:\n1.\n2.\n3.\n\n"
            "One thing to stop doing:\n\n"
            "-- Sent by Stepwise: \"{{ workflow.goal }}\"")}},
        {"toolName": "send_email", "toolInput": {
            "to": email, "subject": "Your note for the week", "body": "{{ steps[0].output.text }}"}},
    ]


def _feed_to_webhook(_email: str) -> list[dict[str, Any]]:
    return [
        {"toolName": "fetch_feed", "toolInput": {"url": PYTHON_BLOG, "limit": 5, "sinceLastRun": True}},
        {"toolName": "compose", "toolInput": {"template": (
            "New on the Python blog this week:\n"
            "{% for item in steps[0].output.items %}- {{ item.title }} {{ item.link }}\n"
            "{% else %}Nothing new this week.\n{% endfor %}")}},
        {"toolName": "http_request", "toolInput": {
            "url": WEBHOOK, "method": "POST", "json": {"text": "{{ steps[1].output.text }}"}}},
    ]


def _page_check(email: str) -> list[dict[str, Any]]:
    return [
        {"toolName": "fetch_page", "toolInput": {"url": WATCHED_PAGE}},
        {"toolName": "compose", "toolInput": {"template": (
            "{{ steps[0].output.title }} ({{ now.strftime('%d %B %Y') }})\n\n"
            "{{ steps[0].output.text | truncate(4000) }}")}},
        {"toolName": "send_email", "toolInput": {
            "to": email, "subject": "Today on the page you watch", "body": "{{ steps[1].output.text }}"}},
    ]


def _newsletter(email: str) -> list[dict[str, Any]]:
    return [
        {"toolName": "fetch_feed", "toolInput": {"url": HACKER_NEWS, "limit": 8, "sinceLastRun": True}},
        {"toolName": "compose", "toolInput": {"template": (
            "# This week's reading\n\nHello everyone,\n\nhere is what caught our eye this week.\n\n"
            "{% for item in steps[0].output.items %}## {{ loop.index }}. {{ item.title }}\n"
            "{{ item.summary | striptags | truncate(280) }}\n\n[Read more]({{ item.link }})\n\n"
            "{% else %}A quiet week: nothing new.\n\n{% endfor %}See you next Friday!")}},
        {"toolName": "send_email", "toolInput": {
            "to": email, "subject": "Newsletter draft: this week's reading",
            "body": "{{ steps[1].output.text }}"}},
    ]


def _linkedin_post(_email: str) -> list[dict[str, Any]]:
    return [
        {"toolName": "fetch_feed", "toolInput": {"url": AI_NEWS, "limit": 3, "sinceLastRun": True}},
        {"toolName": "compose", "toolInput": {"template": (
            "Three AI stories worth your time this week:\n\n"
            "{% for item in steps[0].output.items %}{{ loop.index }}. {{ item.title }}\n{{ item.link }}\n\n"
            "{% endfor %}Which one changes how you work?")}},
        {"toolName": "linkedin_post", "toolInput": {"text": "{{ steps[1].output.text | truncate(2900) }}"}},
    ]


RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (
    Recipe("weekly-note", "Weekly note to myself",
           "Every Monday at 08:00, a planning note lands in your inbox after you approve it. "
           "Needs no network and no model: try it first.",
           "Every Monday morning, email me my weekly planning note", "0 8 * * 1", _weekly_note,
           needs_network=False),
    Recipe("feed-digest-webhook", "Weekly feed digest to a webhook",
           "New posts of a feed, as one message to Slack, Zapier or Make every Monday. "
           "Put your webhook's URL in the last step.",
           "Every Monday, send the team chat what is new on the Python blog", "0 9 * * 1", _feed_to_webhook),
    Recipe("page-check-email", "Daily page check emailed to me",
           "Every morning, the readable text of a page you watch, in your inbox, so a change shows.",
           "Every morning, email me what the Python downloads page says", "0 7 * * *", _page_check),
    Recipe("newsletter-draft", "Feed digest as a newsletter draft",
           "Every Friday, the week's best links as a Markdown newsletter draft emailed to you.",
           "Every Friday, email me a newsletter draft of the week's Hacker News front page",
           "0 7 * * 5", _newsletter),
    Recipe("linkedin-from-feed", "LinkedIn post from a feed",
           "Every Monday, a LinkedIn post listing three AI stories, from a template: no model needed. "
           "Connect LinkedIn in Settings first.",
           "Publish a weekly LinkedIn post about AI trends", "0 9 * * 1", _linkedin_post),
)}


def get_recipe(name: str | None) -> Recipe | None:
    """The recipe of that name, or None."""
    return RECIPES.get(name or "")
