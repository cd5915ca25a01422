"""The domain's collaborators, passed in rather than imported, so tests can swap any of them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from config import Settings
from models import utcnow
from workflows.engine.queue_client import QStashQueue, Queue


@dataclass
class Services:
    """Settings, the queue, the language model (or None) and the clock."""

    settings: Settings
    queue: Queue
    llm: Any = None
    clock: Callable[[], datetime] = utcnow

    def url(self, path: str) -> str:
        """The public URL QStash delivers to for one of our paths."""
        return self.settings.app_base_url + path


def build_services(settings: Settings) -> Services:
    """The production wiring: the QStash SDK and, when configured, the model."""
    llm = None
    if settings.llm_configured:
        from workflows.integrations.llm import make_llm

        llm = make_llm(settings)
    return Services(settings=settings, queue=QStashQueue(settings), llm=llm)
