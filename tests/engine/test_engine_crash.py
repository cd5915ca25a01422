"""Crash safety: SIGKILL the app with runs in flight, start it again, and every run completes.

The app runs as a real gunicorn process here (not a thread), so the kill is a real kill;
tests/reliability/ does the same with more runs and more kills.
"""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.engine.conftest import compose, http_step
from tests.support.app_process import GunicornApp, app_env, fresh_owner
from tests.support.qstash_server import QStashDevProcess, free_port


@pytest.fixture
def qstash(tmp_path: Path) -> Iterator[QStashDevProcess]:
    """qstash_dev retrying at 0.35% of Upstash's backoff: retries 0.04, 0.6, 6.9 and 84 s after the first failure.

    The messages in flight at the kill are retried while the app restarts, which takes 1 to 4 s
    on a busy machine. At the engine tests' usual 1% the retries come 0.1, 1.6 and 20 s after:
    a restart slower than 1.6 s made this test wait 20 s.
    """
    with QStashDevProcess(tmp_path / "qstash.db", retry_scale=0.0035) as process:
        yield process


def test_sigkill_with_runs_in_flight_then_restart_completes_every_run_once(migrated, qstash, recorder, tmp_path):
    recorder.respond("/slow", delay=0.8)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    _, _, token = fresh_owner(migrated, "crash@example.com")
    env = app_env(migrated, url, qstash.url, STEP_TIMEOUT_SECONDS="3", STEP_RETRIES="6")
    server = GunicornApp(port, env, tmp_path / "app.log", threads=4)
    server.start()
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        workflow = api.post("/api/workflows", json={"goal": "Crash me", "steps": [
            compose("before"), http_step(recorder.url + "/slow"), compose("after")]}).json()
        run_ids = [api.post(f"/api/workflows/{workflow['id']}/runs").json()["runId"] for _ in range(4)]
        recorder.wait_for(2, timeout=30, path="/slow")  # side effects are in flight
        server.kill()
        time.sleep(0.5)
        server.start()

        deadline = time.monotonic() + 90
        pending = set(run_ids)
        while pending and time.monotonic() < deadline:
            for run_id in list(pending):
                if api.get(f"/api/runs/{run_id}").json()["status"] in ("completed", "failed"):
                    pending.discard(run_id)
            time.sleep(0.2)
        runs = {run_id: api.get(f"/api/runs/{run_id}").json() for run_id in run_ids}
        assert all(r["status"] == "completed" for r in runs.values()), {
            k: (r["status"], [s["status"] for s in r["steps"]], r["error"]) for k, r in runs.items()}

        keys: dict[str, int] = defaultdict(int)
        for request in recorder.received("/slow"):
            keys[request.header("Idempotency-Key")] += 1
        expected = {f"wf-{workflow['id']}-run-{run_id}-step-1" for run_id in run_ids}
        assert set(keys) == expected, "each side effect carries exactly its step's one key"
        for run in runs.values():
            assert [s["status"] for s in run["steps"]] == ["completed"] * 3
    finally:
        api.close()
        server.stop()
