"""End to end over real HTTP: app + qstash_dev, one step per delivery."""
from tests.engine.conftest import compose, http_step


def test_three_step_run_completes_in_order(stack, recorder):
    workflow = stack.create_workflow(
        goal="Say hello to a webhook",
        steps=[
            compose("Hello {{ workflow.goal }}"),
            compose("{{ steps[0].output.text }}!"),
            {**http_step(recorder.url + "/hook"), "toolInput": {
                "url": recorder.url + "/hook", "json": {"text": "{{ steps[1].output.text }}"}}},
        ],
    )
    run_id = stack.run_now(workflow["id"])
    run = stack.wait_run(run_id)
    assert run["status"] == "completed", run
    assert [s["status"] for s in run["steps"]] == ["completed"] * 3
    assert run["steps"][1]["output"] == {"text": "Hello Say hello to a webhook!"}
    hooks = recorder.received("/hook")
    assert len(hooks) == 1
    assert hooks[0].header("Idempotency-Key") == f"wf-{workflow['id']}-run-{run_id}-step-2"
    assert '"text": "Hello Say hello to a webhook!"' in hooks[0].text() or \
        '"text":"Hello Say hello to a webhook!"' in hooks[0].text()
    started = [s["startedAt"] for s in run["steps"]]
    assert started == sorted(started)
