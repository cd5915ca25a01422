"""The database gone for a moment (a locked SQLite file here; PostgreSQL stopped and started in CI's
PostgreSQL leg): steps answer 5xx, QStash retries, every run completes; /healthz says 503 meanwhile."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from typing import Any, Iterator

import httpx
import pytest

from tests.engine.conftest import TERMINAL, compose, http_step, make_stack, qstash  # noqa: F401 (fixtures)
from tests.reliability.figures import record
from tests.reliability.scale import scaled
from tests.reliability.sink import Sink

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

OUTAGE_SECONDS = 3.0


class StatusCounter:
    """WSGI middleware counting the statuses the app answered, by path."""

    def __init__(self, app: Any) -> None:
        self.app, self.counts, self._lock = app, Counter(), threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        def counting(status: str, headers: Any, *args: Any) -> Any:
            with self._lock:
                self.counts[(environ["PATH_INFO"], int(status[:3]))] += 1
            return start_response(status, headers, *args)

        return self.app(environ, counting)


@contextlib.contextmanager
def database_gone(database_url: str) -> Iterator[None]:
    """Make the database unusable for OUTAGE_SECONDS: hold SQLite's write lock, or stop PostgreSQL."""
    if database_url.startswith("sqlite"):
        locker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        locker.execute("BEGIN IMMEDIATE")  # every app transaction begins IMMEDIATE: all of them wait, then fail
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    version = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: [int(p) for p in v.split(".")])[-1]
    subprocess.run(["pg_ctlcluster", version, "main", "stop", "-m", "fast"], check=True)
    try:
        yield
    finally:
        subprocess.run(["pg_ctlcluster", version, "main", "start"], check=True)


def test_runs_complete_through_a_database_outage(make_stack, migrated):
    stack = make_stack(SQLITE_BUSY_TIMEOUT_MS=300, STEP_RETRIES=12)
    counter = StatusCounter(stack.app.wsgi_app)
    stack.app.wsgi_app = counter
    sink = Sink(delay=0.3)  # slow webhooks keep every run in flight through the outage
    workflow = stack.create_workflow(goal="Through an outage", steps=[
        compose("a"), http_step(sink.url + "/a"), compose("b"), http_step(sink.url + "/b"), compose("c")])
    run_ids = [stack.run_now(workflow["id"]) for _ in range(scaled(6, 12))]
    sink.wait_attempts(1)
    health: list[int] = []
    with database_gone(migrated):
        record("faults injected")
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            try:
                health.append(httpx.get(stack.url + "/healthz", timeout=5).status_code)
            except httpx.HTTPError:
                health.append(0)
            time.sleep(0.2)
    assert 503 in health, health
    finished = [stack.wait_run(run_id, TERMINAL, timeout=scaled(120, 240)) for run_id in run_ids]
    assert [r["status"] for r in finished] == ["completed"] * len(run_ids), [
        (r["status"], r["error"]) for r in finished]
    assert httpx.get(stack.url + "/healthz").status_code == 200
    step_failures = sum(n for (path, status), n in counter.counts.items()
                        if path == "/api/workflows/step" and status >= 500)
    assert step_failures >= 1, counter.counts  # the outage was felt by steps, and retried through
    assert counter.counts[("/api/workflows/step", 500)] == 0  # 503 with Retry-After, never a crash
    expected = {f"wf-{workflow['id']}-run-{r}-step-{i}" for r in run_ids for i in (1, 3)}
    assert sink.effects() == expected  # every webhook once (a retried one under its own key)
    sink.close()
    record("faults survived")
