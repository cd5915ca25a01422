"""The tool contract: what a step runs, and what it hands back to the step runner."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Callable, Protocol

from workflows.usage import Usage


class Delivery(StrEnum):
    """How often a tool's effect may happen when QStash delivers a step more than once."""

    READ_ONLY = "read-only"  # no effect outside Stepwise: safe to repeat
    OUTBOX = "outbox"  # effect is a row written in the step's own commit
    IDEMPOTENCY_KEY = "idempotency-key"  # the receiver deduplicates on our key
    AT_MOST_ONCE = "at-most-once"  # effect-started time committed before the call


@dataclass(frozen=True)
class AssetSpec:
    """An artifact a tool produced; the runner stores it as an `Asset` row."""

    kind: str  # "text", "markdown", "json", "html"
    title: str
    content: str
    mime_type: str = "text/plain"


@dataclass(frozen=True)
class EmailSpec:
    """An email to write to the outbox in the step's commit (never sent from inside a tool)."""

    to: str
    subject: str
    text: str
    html: str | None = None
    message_id: str | None = None  # the Message-ID header to send, as in the tool's output


@dataclass
class ToolResult:
    """What a tool returns: its JSON output plus what the runner must store with it."""

    output: dict[str, Any]
    assets: list[AssetSpec] = field(default_factory=list)
    emails: list[EmailSpec] = field(default_factory=list)
    usage: Usage = Usage()  # tokens spent inside the tool (the `write` tool's draft)


class LLM(Protocol):
    """The slice of the language model a tool may use (the `write` tool)."""

    def draft(self, instructions: str, context: str | None) -> tuple[str, Usage]:
        """Return drafted text and what drafting it spent."""


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool may know about the step it runs in. Built by the step runner."""

    workflow_id: str
    workflow_goal: str
    run_id: int
    run_started_at: datetime
    step_index: int
    dedup_id: str  # wf-{workflowId}-run-{runId}-step-{i}: idempotency key for side effects
    now: datetime
    allow_private_urls: bool
    # Outputs of the earlier steps of this run, by index (the `steps` name of references).
    step_outputs: tuple[dict[str, Any], ...] = ()
    # For fetch_feed's sinceLastRun: the previous completed run of the same workflow.
    previous_run_started_at: datetime | None = None
    previous_run_links: frozenset[str] = frozenset()
    llm: LLM | None = None
    # Credentials a tool needs (e.g. LinkedIn), loaded and decrypted by the runner.
    credentials: dict[str, Any] = field(default_factory=dict)
    # LINKEDIN_API_BASE, for linkedin_post (tests point it at a local stand-in).
    linkedin_api_base: str = "https://api.linkedin.com"
    # No built-in tool needs it, so the runner does not read it on every step.
    owner_email: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Tool:
    """A name, a description, a JSON Schema for its input, a policy, and a function."""

    name: str
    description: str
    input_schema: dict[str, Any]
    needs_approval: bool
    delivery: Delivery
    run: Callable[[dict[str, Any], ToolContext], ToolResult]
    output_fields: tuple[str, ...] = ()
    # Input fields the tool renders itself (compose's template); the runner leaves them raw.
    raw_fields: tuple[str, ...] = ()
    # It calls the language model when it runs (`write`): the cost guard checks the budget first.
    uses_model: bool = False
