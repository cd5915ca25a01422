"""The model answering 429, 500, garbage and nothing at all (timeouts), through the real `openai`
client against the scripted server: steps are retried and the run completes, or it fails cleanly
with the model's words shown."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.engine.conftest import TERMINAL, make_stack  # noqa: F401 (fixture)
from tests.reliability.figures import record
from tests.support.fake_openai import FakeOpenAI, Reply, error_reply, raw_reply, text_reply
from tests.support.qstash_server import QStashDevProcess

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

WRITE = {"toolName": "write", "toolInput": {"instructions": "Two lines about the weather"}}


@pytest.fixture(scope="module")
def qstash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QStashDevProcess]:
    """Upstash's backoff (e^(2.5 n) s) scaled down far enough that a fifth retry comes in seconds."""
    with QStashDevProcess(tmp_path_factory.mktemp("qstash") / "qstash.db", retry_scale=0.00002) as process:
        yield process


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_stack(make_stack, fake):  # type: ignore[no-untyped-def]
    # A 4 s step timeout gives the model 2 s per call (half of it), so a silent model times out fast.
    return make_stack(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", STEP_TIMEOUT_SECONDS=4,
                      STEP_RETRIES=8)


def test_each_kind_of_model_failure_is_retried_and_the_run_completes(llm_stack, fake):
    fake.enqueue(
        error_reply(429, "Rate limit reached for gpt-4o-mini", type="rate_limit_error", headers={"Retry-After": "1"}),
        error_reply(500, "The server had an error while processing your request", type="server_error"),
        raw_reply("<html>502 Bad Gateway</html>", status=200, content_type="application/json"),
        raw_reply('{"choices": [', status=200, content_type="application/json"),
        Reply(body=text_reply("too late").body, delay=3.0),  # past the 2 s client timeout
        text_reply("Sunny in the morning.\nRain by evening."),
    )
    workflow = llm_stack.create_workflow(goal="Weather", steps=[WRITE])
    run = llm_stack.wait_run(llm_stack.run_now(workflow["id"]), TERMINAL, timeout=120)
    record("faults injected", 5)
    assert run["status"] == "completed", (run["status"], run["error"], run["steps"])
    step = run["steps"][0]
    assert step["output"]["text"].startswith("Sunny") and step["attempts"] == 6
    assert len(fake.requests) == 6 and not fake.script_errors
    record("faults survived", 5)


def test_a_refusal_no_retry_can_change_fails_the_run_with_the_models_words(llm_stack, fake):
    fake.enqueue(error_reply(400, "This model's maximum context length is 128000 tokens"))
    workflow = llm_stack.create_workflow(goal="Weather", steps=[WRITE])
    run = llm_stack.wait_run(llm_stack.run_now(workflow["id"]), TERMINAL, timeout=60)
    record("faults injected")
    assert run["status"] == "failed" and run["steps"][0]["attempts"] == 1
    assert "maximum context length is 128000 tokens" in run["error"]
    record("faults survived")


def test_a_model_that_never_answers_sensibly_fails_the_run_once_retries_run_out(make_stack, fake):
    stack = make_stack(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", STEP_RETRIES=2)
    fake.responder = lambda request: raw_reply("not json at all", status=200, content_type="application/json")
    workflow = stack.create_workflow(goal="Weather", steps=[WRITE])
    run = stack.wait_run(stack.run_now(workflow["id"]), TERMINAL, timeout=90)
    record("faults injected")
    assert run["status"] == "failed"
    assert run["steps"][0]["attempts"] == 3  # the first try and two retries
    assert "gave up after" in run["error"] and run["steps"][0]["error"]
    record("faults survived")
