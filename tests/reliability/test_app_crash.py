"""SIGKILL the app (gunicorn, master and workers) three times while 20 runs are in flight: every
run finishes, each webhook effect happens once per step, and linkedin_post never posts twice."""
from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from models import utcnow
from tests.conftest import TEST_SECRET
from tests.engine.conftest import compose, http_step
from tests.reliability.figures import record
from tests.reliability.scale import scaled
from tests.reliability.sink import Sink
from tests.support.app_process import GunicornApp, app_env, fresh_owner
from tests.support.linkedin_standin import LinkedInStandIn
from tests.support.qstash_server import QStashDevProcess, free_port
from workflows.integrations import linkedin

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

KILLS = 3


@pytest.fixture(scope="module")
def qstash(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Deliveries refused while the app is down pile up retries: a message in flight at all three
    kills can be on its sixth. Upstash's backoff (e^(2.5 n) s, capped at a day) is scaled so that
    one comes in 33 s; production waits longer, and completes the same way."""
    with QStashDevProcess(tmp_path_factory.mktemp("qstash") / "qstash.db", retry_scale=0.00001) as process:
        yield process
OUTCOME_UNKNOWN = "outcome unknown — check LinkedIn"


@pytest.mark.timeout(900)
def test_three_kills_during_twenty_runs(migrated, qstash, tmp_path):
    runs = scaled(20, 20)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Sink(delay=0.2) as sink, LinkedInStandIn() as li:
        app, user_id, token = fresh_owner(migrated, "crash@example.com")
        with app.app_context():
            linkedin.save_pasted_token(user_id, li.issue_token(), li.member_id, 30, TEST_SECRET, utcnow())
        env = app_env(migrated, url, qstash.url, STEP_TIMEOUT_SECONDS="3", STEP_RETRIES="12",
                      LINKEDIN_API_BASE=li.api_base)
        server = GunicornApp(port, env, tmp_path / "app.log").start()
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        try:
            workflow = api.post("/api/workflows", json={"goal": "Crash me", "steps": [
                compose("run {{ run.id }}"), http_step(sink.url + "/hook"),
                {"toolName": "linkedin_post", "toolInput": {"text": "Post of run {{ run.id }}"},
                 "needsApproval": False},
                compose("done")]}).json()
            run_ids: list[int] = []
            starters = [threading.Thread(target=lambda: run_ids.append(
                api.post(f"/api/workflows/{workflow['id']}/runs").json()["runId"])) for _ in range(runs)]
            for starter in starters:
                starter.start()
            for starter in starters:
                starter.join(60)
            assert len(run_ids) == runs
            for kill in range(KILLS):
                sink.wait_attempts(1 + kill * runs // KILLS, timeout=120)  # effects are in flight
                server.kill()
                record("faults injected")
                time.sleep(0.5)
                server.start()

            finished = _wait_all(api, run_ids, timeout=scaled(180, 300))
            posts = Counter(p["text"] for p in li.posts)
            expected = {f"wf-{workflow['id']}-run-{r}-step-1" for r in run_ids}
            record("lost messages", len(expected - sink.effects()))
            record("duplicate side effects", sum(n - 1 for n in posts.values() if n > 1))
            record("redeliveries absorbed by key", sink.repeats())
            assert sink.effects() == expected, "one webhook effect per run, under its step's own key"
            assert all(n == 1 for n in posts.values()), posts
            for run_id, run in finished.items():
                if run["status"] == "completed":
                    assert posts[f"Post of run {run_id}"] == 1
                else:  # killed in the middle of the post: at most once means refusing to guess
                    assert run["status"] == "failed" and OUTCOME_UNKNOWN in run["error"], run
            unknown = sum(r["status"] == "failed" for r in finished.values())
            record("runs cut mid-post (outcome unknown)", unknown)
            record("faults survived", KILLS)
        finally:
            api.close()
            server.stop()


def _wait_all(api: httpx.Client, run_ids: list[int], timeout: float) -> dict[int, dict]:
    deadline = time.monotonic() + timeout
    pending, finished = set(run_ids), {}
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            run = api.get(f"/api/runs/{run_id}").json()
            if run["status"] in ("completed", "failed", "cancelled", "rejected", "expired"):
                finished[run_id] = run
                pending.discard(run_id)
        time.sleep(0.3)
    assert not pending, {r: _summary(api.get(f"/api/runs/{r}").json()) for r in pending}
    return finished


def _summary(run: dict) -> tuple:
    return run["status"], [(s["status"], s["attempts"], (s["error"] or "")[:80]) for s in run["steps"]]
