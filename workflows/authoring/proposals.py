"""What a step proposes, arranged to be read by a person: a post, an email, a webhook call; and
how long it may wait (time left, and when the next tick supersedes it under overlap `supersede`).

The approvals page, the emailed link page and the approval emails all show a proposal the same
way, from the one `present` below.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models import Overlap, Workflow
from qstash_dev.cron import next_fire_times
from workflows.integrations.linkedin import MAX_POST_CHARS


@dataclass(frozen=True)
class Proposal:
    """A tool input shown as what it does. `kind` is post, email, webhook or json."""

    kind: str
    tool_name: str
    fields: dict[str, Any] = field(default_factory=dict)
    pretty: str = ""  # the whole input as indented JSON


def pretty_json(value: Any) -> str:
    """Indented JSON, non-ASCII kept readable."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def present(tool_name: str, tool_input: dict[str, Any] | None) -> Proposal:
    """The proposal of a step running `tool_name` with `tool_input`."""
    data = tool_input if isinstance(tool_input, dict) else {}
    pretty = pretty_json(data)
    if tool_name == "linkedin_post":
        text = str(data.get("text") or "")
        return Proposal("post", tool_name, {
            "text": text, "chars": len(text), "limit": MAX_POST_CHARS, "over": len(text) > MAX_POST_CHARS,
            "link": data.get("link"), "link_title": data.get("linkTitle"),
        }, pretty)
    if tool_name == "send_email":
        return Proposal("email", tool_name, {
            "to": data.get("to", ""), "subject": data.get("subject", ""), "body": data.get("body", ""),
        }, pretty)
    if tool_name == "http_request":
        return Proposal("webhook", tool_name, {
            "method": data.get("method", "POST"), "url": data.get("url", ""),
            "headers": data.get("headers") or {},
            "body": pretty_json(data["json"]) if "json" in data else None,
        }, pretty)
    return Proposal("json", tool_name, {}, pretty)


def time_left(until: datetime, now: datetime) -> str:
    """'2 days 3 hours', '45 minutes', 'less than a minute' or 'no time (expired)'."""
    left = until - now
    if left <= timedelta(0):
        return "no time (expired)"
    minutes = int(left.total_seconds() // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (mins, "minute")]
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n]
    return " ".join(words) or "less than a minute"


def superseded_at(workflow: Workflow, run_id: int, expires_at: datetime, now: datetime) -> datetime | None:
    """When the next tick will supersede this run waiting for approval (overlap `supersede`), or
    None: another policy, no schedule, paused, not the workflow's active run, or it expires first."""
    if (workflow.overlap != Overlap.SUPERSEDE or workflow.paused or not workflow.schedule
            or workflow.active_run_id != run_id):
        return None
    upcoming = next_fire_times(workflow.schedule, workflow.timezone, now, 1)
    return upcoming[0] if upcoming and upcoming[0] < expires_at else None
