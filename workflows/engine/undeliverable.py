"""A workflow's undeliverable step messages: what QStash's DLQ holds of them, and what to do.

QStash moves a message to its dead-letter queue when it gives up on it (retries spent, or a
489 non-retryable answer). Every step message is published with the label `wf-{workflowId}`
(`publishing.step_label`), so the DLQ is listed by that label, and each entry is checked
again by its body, which names the workflow. "Retry" goes through the run's retry
(`retries.retry_run`), never a raw DLQ retry, which would redeliver a message the engine no
longer expects; the entry is then removed. "Discard" removes it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from extensions import db
from models import Run, RunStep
from workflows.engine import retries
from workflows.engine.delivery import StepMessage, parse_message
from workflows.engine.publishing import STEP_PATH, step_label
from workflows.engine.queue_client import DeadLetter
from workflows.errors import NotFound, Unavailable
from workflows.ports import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Undeliverable:
    """One DLQ entry of the workflow, with the run and step it was meant for (None: deleted since)."""

    letter: DeadLetter
    message: StepMessage
    run: Run | None
    step: RunStep | None

    @property
    def confirm_where(self) -> str | None:
        """Where the owner must look before a retry ("LinkedIn"), when the step's effect may have happened."""
        return retries.outcome_unknown(self.step) if self.step is not None else None


def _message(letter: DeadLetter, workflow_id: str) -> StepMessage | None:
    """The step message the entry carried, when it is one of this workflow's."""
    message = parse_message(letter.body)
    if message is None or message.workflow_id != workflow_id or not letter.url.endswith(STEP_PATH):
        return None
    return message


def listing(services: Services, workflow_id: str, cursor: str | None = None) -> tuple[list[Undeliverable], str | None]:
    """A page of the workflow's undeliverable step messages and the next page's cursor.

    Raises Unavailable when QStash cannot be reached: the caller says so and shows the rest.
    """
    db.session.rollback()  # no transaction open while QStash is called
    page = services.queue.dead_letters(step_label(workflow_id), cursor)
    found = [(letter, message) for letter in page.items if (message := _message(letter, workflow_id))]
    run_ids = {message.run_id for _, message in found}
    loaded = db.session.scalars(sa.select(Run).where(Run.workflow_id == workflow_id, Run.id.in_(run_ids))
                                .options(selectinload(Run.steps))).all() if run_ids else []
    by_id = {run.id: run for run in loaded}
    items = []
    for letter, message in found:
        run = by_id.get(message.run_id)
        step = next((s for s in run.steps if s.step_index == message.step_index), None) if run else None
        items.append(Undeliverable(letter, message, run, step))
    return items, page.cursor


def _find(services: Services, workflow_id: str, dlq_id: str) -> tuple[DeadLetter, StepMessage]:
    db.session.rollback()  # no transaction open while QStash is called
    letter = services.queue.dead_letter(dlq_id)
    message = _message(letter, workflow_id) if letter is not None else None
    if letter is None or message is None:
        raise NotFound(f"undeliverable message {dlq_id} not found (already retried or discarded?)")
    return letter, message


def retry(services: Services, workflow_id: str, dlq_id: str, confirmed: bool = False) -> tuple[int, int]:
    """Retry the entry's run from its failed step, then drop the entry; (run id, step index)."""
    _, message = _find(services, workflow_id, dlq_id)
    run = db.session.scalar(sa.select(Run).where(Run.id == message.run_id, Run.workflow_id == workflow_id))
    if run is None:
        raise NotFound(f"run {message.run_id} no longer exists; discard this message")
    index = retries.retry_run(services, run, confirmed)
    try:
        services.queue.delete_dead_letter(dlq_id)
    except Unavailable as exc:  # the run goes on; the entry stays listed until discarded
        log.warning("retried run %s but could not remove DLQ entry %s: %s", message.run_id, dlq_id, exc)
    return message.run_id, index


def discard(services: Services, workflow_id: str, dlq_id: str) -> None:
    """Remove the entry from QStash's DLQ (the run is left as it is)."""
    _find(services, workflow_id, dlq_id)
    services.queue.delete_dead_letter(dlq_id)
