"""SIGKILL qstash_dev with step messages pending, delayed and mid-retry; restart it on the same file:
nothing is lost, and each side effect happens once (counted by Idempotency-Key at a local sink)."""
from __future__ import annotations

import time
import pytest

from qstash import QStash

from tests.engine.conftest import TERMINAL, compose, http_step, make_stack, qstash  # noqa: F401 (fixtures)
from tests.reliability.figures import record
from tests.reliability.scale import scaled
from tests.reliability.sink import Sink

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback


def test_killed_qstash_loses_nothing_and_repeats_nothing(make_stack, qstash):
    stack = make_stack(STEP_RETRIES=8)
    runs_before, runs_after = scaled(6, 20), scaled(4, 10)
    with Sink(fail_first=1, retry_after=2) as sink:  # every key's first attempt: 503, retry in 2 s
        workflow = stack.create_workflow(goal="Webhooks through a crash", steps=[
            compose("start"), http_step(sink.url + "/a"), compose("middle"), http_step(sink.url + "/b")])
        run_ids = [stack.run_now(workflow["id"]) for _ in range(runs_before)]
        sink.wait_attempts(runs_before, timeout=60)  # their first webhooks failed: now mid-retry, delayed 2 s
        run_ids += [stack.run_now(workflow["id"]) for _ in range(runs_after)]  # accepted, still pending
        sdk = QStash(qstash.token, base_url=qstash.url)
        sdk.message.publish_json(url=sink.url + "/plain", body={"x": 1}, delay="2s",
                                 headers={"Idempotency-Key": "plain-delayed"})

        qstash.kill()
        record("faults injected")
        time.sleep(1.0)
        qstash.start()

        finished = {run_id: stack.wait_run(run_id, TERMINAL, timeout=scaled(90, 240)) for run_id in run_ids}
        deadline = time.monotonic() + 30
        while "plain-delayed" not in sink.effects() and time.monotonic() < deadline:
            time.sleep(0.1)

        expected = {f"wf-{workflow['id']}-run-{run_id}-step-{i}" for run_id in run_ids for i in (1, 3)}
        expected.add("plain-delayed")
        lost = len(expected - sink.effects())
        record("lost messages", lost)
        record("duplicate side effects", sink.repeats())
        assert {r["status"] for r in finished.values()} == {"completed"}, {
            k: (r["status"], r["error"]) for k, r in finished.items() if r["status"] != "completed"}
        assert lost == 0, expected - sink.effects()
        assert sink.repeats() == 0 and sink.effects() == expected
        record("faults survived")
