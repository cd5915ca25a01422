"""What changed since the last approved version of a step (docs/architecture.md, *What changed
since last time*).

A proposal is set beside the input a person last approved for the same step (same index, same
tool) of the same workflow: a word-level diff the server renders, and a similarity. What is
compared is what the proposal reads as (`proposals.present`): a LinkedIn post's text, an email's
subject and body, a webhook's JSON body, any other tool's whole input as JSON.

Similarity is difflib's `SequenceMatcher.ratio()` over the words of both versions (split on
whitespace, compared case-insensitively, every part of the proposal in order): 2·M / T, where M
counts the words in matching runs and T the words of both versions. 1.0 is the same words in
the same order; at 0.9 or more the proposal is a near-duplicate of what was approved.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any, Iterable

import sqlalchemy as sa

from extensions import db
from models import Approval, ApprovalStatus, Run, RunStep
from workflows.authoring.proposals import present

NEAR_DUPLICATE = 0.9
# Per version. difflib is quadratic at worst; past this a proposal is compared by nothing.
MAX_WORDS = 5000
WORD = re.compile(r"\s*\S+")  # a word with the whitespace before it

_approvals, _steps, _runs = Approval.__table__, RunStep.__table__, Run.__table__


@dataclass(frozen=True)
class Piece:
    """A stretch of the diff: `same`, `added` (only in the proposal) or `removed` (only in what was approved)."""

    kind: str
    text: str


@dataclass(frozen=True)
class Part:
    """One compared part of a proposal (a post's text, an email's subject or body) as a diff."""

    label: str
    pieces: tuple[Piece, ...]

    @property
    def changed(self) -> bool:
        """True when any word was added or removed."""
        return any(piece.kind != "same" for piece in self.pieces)


@dataclass(frozen=True)
class Previous:
    """The last approved version of the step: which approval, what it approved, and when."""

    approval_id: int
    decided_input: dict[str, Any]
    decided_at: datetime


@dataclass(frozen=True)
class Comparison:
    """A proposal against the last approved version of its step."""

    previous: Previous
    parts: tuple[Part, ...]  # empty when a version is too long to compare
    similarity: float | None  # None when a version is too long to compare

    @property
    def near_duplicate(self) -> bool:
        """Similar enough to warn "very similar to what you approved on <date>"."""
        return self.similarity is not None and self.similarity >= NEAR_DUPLICATE

    @property
    def changed(self) -> bool:
        """True when some word differs from what was approved."""
        return any(part.changed for part in self.parts)


def texts(tool_name: str, tool_input: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The parts of an input that a person reads, labelled, in order."""
    proposal = present(tool_name, tool_input)
    fields = proposal.fields
    if proposal.kind == "post":
        return [("Post", fields["text"])]
    if proposal.kind == "email":
        return [("Subject", str(fields["subject"])), ("Body", str(fields["body"]))]
    if proposal.kind == "webhook":
        return [("Body", fields["body"] or "")]
    return [("Input", proposal.pretty)]


def word_diff(old: str, new: str) -> tuple[Piece, ...]:
    """The words of `new` against `old`: what stayed, what was removed, what was added.

    Each word carries the whitespace before it, so line breaks survive; a changed stretch gives
    that whitespace to the text around it, so a marked stretch starts and ends with a word.
    """
    before, after = WORD.findall(old), WORD.findall(new)
    matcher = SequenceMatcher(None, [w.strip() for w in before], [w.strip() for w in after], autojunk=False)
    pieces: list[Piece] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(before[i1:i2]), "".join(after[j1:j2])
        if tag == "equal":
            # After a change at the very start, the old side may have the space the new one lacks.
            gap = _lead(removed) if pieces and not _lead(added) else ""
            pieces.append(Piece("same", gap + added))
            continue
        pieces.append(Piece("same", _lead(added or removed)))
        if removed:
            pieces.append(Piece("removed", removed.lstrip()))
        if added:
            pieces.append(Piece("added", added.lstrip()))
    return _merged(pieces)


def _lead(text: str) -> str:
    return text[:len(text) - len(text.lstrip())]


def _merged(pieces: list[Piece]) -> tuple[Piece, ...]:
    """Adjacent pieces of one kind as one, empty ones dropped."""
    merged: list[Piece] = []
    for piece in pieces:
        if not piece.text:
            continue
        if merged and merged[-1].kind == piece.kind:
            merged[-1] = Piece(piece.kind, merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return tuple(merged)


def similarity(old: Iterable[str], new: Iterable[str]) -> float:
    """SequenceMatcher's ratio over the words of both versions, case-insensitive (see the module)."""
    before = [w.casefold() for text in old for w in text.split()]
    after = [w.casefold() for text in new for w in text.split()]
    if not before and not after:
        return 1.0
    return SequenceMatcher(None, before, after, autojunk=False).ratio()


def compare(tool_name: str, previous: Previous, proposed: dict[str, Any] | None) -> Comparison:
    """The proposal against the previous approved version of the same step."""
    old, new = texts(tool_name, previous.decided_input), texts(tool_name, proposed)
    words = max(sum(len(WORD.findall(text)) for _, text in side) for side in (old, new))
    if words > MAX_WORDS:
        return Comparison(previous, (), None)
    parts = tuple(Part(label, word_diff(before, after)) for (label, before), (_, after) in zip(old, new))
    return Comparison(previous, parts, similarity((t for _, t in old), (t for _, t in new)))


def _latest_approved(key: int, workflow_id: str, step_index: int, tool_name: str,
                     before: datetime | None) -> sa.Select:
    """The latest approved approval of one step of a workflow, walking its runs newest first
    (the index on runs (workflow_id, id), then each run's step and its approvals)."""
    query = (
        sa.select(sa.literal(key).label("key"), _approvals.c.id, _approvals.c.decided_input, _approvals.c.decided_at)
        .select_from(_runs.join(_steps, sa.and_(_steps.c.run_id == _runs.c.id, _steps.c.step_index == step_index))
                     .join(_approvals, _approvals.c.run_step_id == _steps.c.id))
        .where(_runs.c.workflow_id == workflow_id, _steps.c.tool_name == tool_name,
               _approvals.c.status == ApprovalStatus.APPROVED.value)
        .order_by(_runs.c.id.desc(), _approvals.c.id.desc())
        .limit(1)
    )
    return query if before is None else query.where(_approvals.c.decided_at < before)


def _lookup(approval: Approval) -> tuple[str, int, str, datetime | None]:
    """What an approval is compared with: its workflow, step index and tool, and for a decided one
    only versions approved before its decision (a pending one meets the very latest)."""
    step = approval.run_step
    before = None if approval.status == ApprovalStatus.PENDING else approval.decided_at
    return approval.run.workflow_id, step.step_index, step.tool_name, before


def for_approvals(approvals: Iterable[Approval]) -> dict[int, Comparison]:
    """Each approval's comparison (by approval id; none for a step never approved before), in ONE
    statement for a whole page: a UNION ALL of one indexed LIMIT 1 query per distinct step."""
    wanted: dict[tuple, list[Approval]] = {}
    for approval in approvals:
        wanted.setdefault(_lookup(approval), []).append(approval)
    if not wanted:
        return {}
    keys = list(wanted)
    parts = [_latest_approved(n, *key).subquery().select() for n, key in enumerate(keys)]
    found: dict[int, Comparison] = {}
    for row in db.session.execute(sa.union_all(*parts) if len(parts) > 1 else parts[0]):
        previous = Previous(row.id, row.decided_input or {}, row.decided_at)
        for approval in wanted[keys[row.key]]:
            found[approval.id] = compare(approval.run_step.tool_name, previous, approval.proposed_input)
    return found


def for_approval(approval: Approval) -> Comparison | None:
    """One approval's comparison, or None when its step was never approved before."""
    return for_approvals([approval]).get(approval.id)
