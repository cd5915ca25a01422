"""Load: concurrent runs of 5 steps on the embedded stack as served in production (gunicorn, one
process with 16 threads; on PostgreSQL also two processes splitting the deliveries). All complete,
no duplicate side effect, no stuck step, no "database is locked". Wall time and steps/s are
reported, never asserted."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from extensions import db
from models import PendingPublish, Run, RunStep
from tests.engine.conftest import compose, http_step, qstash  # noqa: F401 (fixture)
from tests.reliability.figures import note, record
from tests.reliability.scale import scaled
from tests.reliability.sink import Sink
from tests.support.app_process import GunicornApp, app_env, fresh_owner
from tests.support.qstash_server import free_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

RUNS = scaled(30, 200)
STEPS = 5
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
WORKERS = [1, 2] if ON_POSTGRES else [1]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("workers", WORKERS)
def test_concurrent_runs_all_complete_once(migrated, qstash, tmp_path, workers):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app, _, token = fresh_owner(migrated, "load@example.com")
    log = tmp_path / "app.log"
    server = GunicornApp(port, app_env(migrated, url, qstash.url, STEP_RETRIES="10"), log,
                         workers=workers, threads=16).start()
    qstash_log_start = len(qstash.log())
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    try:
        with Sink() as sink:
            workflow = api.post("/api/workflows", json={"goal": "Load", "steps": [
                compose("one {{ run.id }}"), http_step(sink.url + "/a"), compose("{{ steps[0].output.text }} three"),
                http_step(sink.url + "/b"), compose("done")]}).json()
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=20) as pool:
                run_ids = list(pool.map(lambda _: api.post(f"/api/workflows/{workflow['id']}/runs").json()["runId"],
                                        range(RUNS)))
            completed = _wait_completed(app, run_ids, timeout=scaled(300, 800))
            wall = time.monotonic() - started

            with app.app_context():
                stuck = db.session.scalar(sa.select(sa.func.count()).select_from(RunStep).where(
                    RunStep.run_id.in_(run_ids), RunStep.status != "completed"))
                db.session.rollback()
            # A publish QStash accepted while the app's call timed out under load stays unsent
            # until the step's redelivery (answered 503 meanwhile) records it: wait for that.
            unsent = eventually(lambda: _unsent(app), until=lambda n: n == 0, timeout=scaled(60, 120),
                                what="every queued publish to be recorded as sent")
            expected = {f"wf-{workflow['id']}-run-{r}-step-{i}" for r in run_ids for i in (1, 3)}
            locked = (log.read_text() + qstash.log()[qstash_log_start:]).count("database is locked")
            label = f"{workers} process{'es' if workers > 1 else ''}, {'PostgreSQL' if ON_POSTGRES else 'SQLite'}"
            record("runs under load", RUNS)
            record("steps under load", RUNS * STEPS)
            record("duplicate side effects", sink.repeats())
            record("lost messages", len(expected - sink.effects()))
            record("stuck steps", stuck)
            record('"database is locked" seen', locked)
            note(f"load ({label})", f"{RUNS} runs x {STEPS} steps in {wall:.1f} s = {RUNS * STEPS / wall:.1f} steps/s")
            assert completed == RUNS
            assert sink.effects() == expected and sink.repeats() == 0
            assert stuck == 0 and unsent == 0 and locked == 0
    finally:
        api.close()
        server.stop()


def _unsent(app) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(PendingPublish).where(
            PendingPublish.sent_at.is_(None)))
        db.session.rollback()
    return count


def _wait_completed(app, run_ids: list[int], timeout: float) -> int:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            done = db.session.scalar(sa.select(sa.func.count()).select_from(Run).where(
                Run.id.in_(run_ids), Run.status.in_(["completed", "failed", "cancelled", "expired", "rejected"])))
            db.session.rollback()
        if done == len(run_ids) or time.monotonic() > deadline:
            return done
        time.sleep(0.25)
