"""The embedded stack for engine tests: the app on a real socket and `qstash_dev` beside it.

`stack` serves the app from a thread of the test process (so tests can swap its clock or
queue) on a port chosen before the app is built, because `APP_BASE_URL` — which QStash
delivers to and which signatures name — must be that server's URL.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import httpx
import jwt
import pytest
from werkzeug.serving import make_server

from extensions import db
from models import Run, utcnow
from tests.conftest import bearer, clean_tables, create_user_with_token, make_app
from tests.support.qstash_server import DEV_CURRENT_SIGNING_KEY, QStashDevProcess, free_port
from tests.support.recorder import Recorder

TERMINAL = {"completed", "failed", "rejected", "cancelled", "expired", "skipped"}


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
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run["status"] in wanted:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} stayed {run['status']}: {json.dumps(run)[:2000]}")
            time.sleep(0.05)

    def wait_approval(self, run_id: int, timeout: float = 30) -> dict[str, Any]:
        """Wait for the run's pending approval."""
        run = self.wait_run(run_id, {"awaiting_approval"} | TERMINAL, timeout)
        pending = [a for a in run["approvals"] if a["status"] == "pending"]
        assert pending, f"run {run_id} has no pending approval: {run}"
        return pending[-1]

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


def sign(body: str, url: str, key: str = DEV_CURRENT_SIGNING_KEY, **claims: Any) -> str:
    """An Upstash-Signature JWT as QStash makes it (claims may be overridden)."""
    now = int(time.time())
    digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).decode().rstrip("=")
    payload = {"iss": "Upstash", "sub": url, "iat": now, "nbf": now, "exp": now + 300,
               "jti": uuid.uuid4().hex, "body": digest, **claims}
    return jwt.encode(payload, key, algorithm="HS256")


class _Server:
    def __init__(self, app: Any, port: int) -> None:
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def qstash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QStashDevProcess]:
    """One qstash_dev per test module (fast retries: scale 0.01)."""
    process = QStashDevProcess(tmp_path_factory.mktemp("qstash") / "qstash.db", retry_scale=0.01)
    process.start()
    yield process
    process.stop()


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(migrated: str, qstash: QStashDevProcess) -> Iterator[StackFactory]:
    """Build a stack; keyword arguments are configuration overrides (STEP_RETRIES=…)."""
    servers: list[_Server] = []
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
        servers.append(_Server(app, port))
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
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


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
