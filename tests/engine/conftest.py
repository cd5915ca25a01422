"""The embedded stack for engine tests: the app on a real socket and `qstash_dev` beside it.

`stack` serves the app from a thread of the test process (so tests can swap its clock or
queue) on a port chosen before the app is built, because `APP_BASE_URL` — which QStash
delivers to and which signatures name — must be that server's URL.
"""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa
from qstash import QStash
from qstash.log import LogState

from extensions import db
from models import PendingPublish, Run, utcnow
from tests.conftest import bearer, clean_tables, create_user_with_token, make_app
from tests.support.live_server import LiveServer
from tests.support.memory_queue import MemoryQueue
from tests.support.qstash_server import QStashDevProcess, free_port
from tests.support.signing import sign
from tests.support.stack_tier import stack_fixture
from tests.support.waiting import eventually
from workflows.engine.publishing import STEP_PATH
from workflows.ports import Services

TERMINAL = {"completed", "failed", "rejected", "cancelled", "expired", "skipped", "superseded"}
# A message's last log state once QStash is done with it.
FINISHED = {LogState.DELIVERED, LogState.FAILED, LogState.CANCELED}


class OffsetClock:
    """Real time plus an offset the test can move forward (schedule ticks, leases)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@dataclass
class Stack:
    """App + qstash_dev + an API user."""

    app: Any
    url: str
    qstash: QStashDevProcess
    token: str
    user_id: int
    clock: OffsetClock
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["stepwise"]

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**bearer(token or self.token), **kwargs.pop("headers", {})}
        return self.http.request(method, self.url + path, headers=headers, **kwargs)

    def create_workflow(self, **body: Any) -> dict[str, Any]:
        response = self.api("POST", "/api/workflows", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def run_now(self, workflow_id: str) -> int:
        response = self.api("POST", f"/api/workflows/{workflow_id}/runs")
        assert response.status_code == 202, response.text
        return response.json()["runId"]

    def run(self, run_id: int) -> dict[str, Any]:
        response = self.api("GET", f"/api/runs/{run_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_run(self, run_id: int, statuses: set[str] | str = TERMINAL, timeout: float = 30) -> dict[str, Any]:
        """Poll the API until the run reaches one of `statuses`."""
        wanted = {statuses} if isinstance(statuses, str) else statuses
        return eventually(lambda: self.run(run_id), until=lambda run: run["status"] in wanted, timeout=timeout,
                          what=f"run {run_id} to become {' or '.join(sorted(wanted))}")

    def wait_approval(self, run_id: int, timeout: float = 30) -> dict[str, Any]:
        """Wait for the run's pending approval (the newest, after a request for changes)."""
        run = eventually(lambda: self.run(run_id), timeout=timeout, what=f"a pending approval of run {run_id}",
                         until=lambda run: run["status"] in TERMINAL or _pending(run))
        assert _pending(run), f"run {run_id} has no pending approval: {run}"
        return _pending(run)[-1]

    def wait_delivered(self, run_id: int, timeout: float = 20) -> None:
        """Wait until every step message the app published for the run was delivered and answered.

        The positive signal before asserting that something did not happen: whatever those
        messages were going to do, they have done.
        """
        unsent = sa.select(PendingPublish.id).where(PendingPublish.run_id == run_id, PendingPublish.sent_at.is_(None))
        eventually(lambda: self._scalars(unsent), until=lambda rows: not rows, timeout=timeout,
                   what=f"run {run_id}'s messages to reach QStash")
        sent = self._scalars(sa.select(PendingPublish.message_id).where(
            PendingPublish.run_id == run_id, PendingPublish.destination == STEP_PATH))
        client = QStash(self.qstash.token, base_url=self.qstash.url)
        for message_id in sent:
            eventually(lambda: client.log.list(filter={"message_id": message_id}).logs, timeout=timeout,
                       until=lambda logs: logs and logs[0].state in FINISHED, what=f"{message_id} to be delivered")

    def _scalars(self, query: Any) -> list[Any]:
        with self.db():
            return list(db.session.scalars(query))

    @contextmanager
    def queue_unreachable(self) -> Iterator[None]:
        """QStash refuses every publish meanwhile: rows stay in PendingPublish, as after a crash."""
        real = self.services.queue
        self.services.queue = MemoryQueue(unreachable=True)
        try:
            yield
        finally:
            self.services.queue = real

    def decide(self, approval_id: int, **body: Any) -> httpx.Response:
        return self.api("POST", f"/api/approvals/{approval_id}", json=body)

    def deliver(self, path: str, body: Any, **headers: str) -> httpx.Response:
        """POST a body to the app exactly as QStash would, correctly signed."""
        raw = json.dumps(body)
        signature = sign(raw, self.url + path)
        return self.http.post(self.url + path, content=raw,
                              headers={"Upstash-Signature": signature, "Content-Type": "application/json",
                                       "Upstash-Message-Id": headers.pop("message_id", f"msg_{uuid.uuid4().hex}"),
                                       **headers})

    def db(self) -> Any:
        """An app context for reading the database directly."""
        return self.app.app_context()


def _pending(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in run["approvals"] if a["status"] == "pending"]


@stack_fixture(scope="module")
def qstash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QStashDevProcess]:
    """One qstash_dev per test module (fast retries: scale 0.01)."""
    with QStashDevProcess(tmp_path_factory.mktemp("qstash") / "qstash.db", retry_scale=0.01) as process:
        yield process


StackFactory = Callable[..., Stack]


@stack_fixture
def make_stack(migrated: str, qstash: QStashDevProcess) -> Iterator[StackFactory]:
    """Build a stack; keyword arguments are configuration overrides (STEP_RETRIES=…)."""
    servers: list[LiveServer] = []
    clients: list[httpx.Client] = []

    def build(**overrides: Any) -> Stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = {"APP_BASE_URL": url, "QSTASH_URL": qstash.url, "WTF_CSRF_ENABLED": True,
                  "STEP_TIMEOUT_SECONDS": 30, **overrides}
        app = make_app(migrated, **config)
        clock = OffsetClock()
        app.extensions["stepwise"].clock = clock
        with app.app_context():
            clean_tables()
        user_id, token = create_user_with_token(app, "owner@example.com")
        servers.append(LiveServer(app, port).start())
        stack = Stack(app=app, url=url, qstash=qstash, token=token, user_id=user_id, clock=clock)
        clients.append(stack.http)
        return stack

    yield build
    for server in servers:
        server.stop()
    for client in clients:
        client.close()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


@pytest.fixture
def services(app) -> Services:
    """The app's Services with an in-memory queue, for tests that call the domain directly."""
    services = app.extensions["stepwise"]
    services.queue = MemoryQueue()
    return services


def http_step(url: str, **extra: Any) -> dict[str, Any]:
    """An http_request step that needs no approval (the owner turned it off)."""
    return {"toolName": "http_request", "toolInput": {"url": url, "json": extra or {"hello": "world"}},
            "needsApproval": False}


def compose(template: str) -> dict[str, Any]:
    return {"toolName": "compose", "toolInput": {"template": template}}


def run_row(stack: Stack, run_id: int) -> Run:
    with stack.db():
        return db.session.get(Run, run_id)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)
