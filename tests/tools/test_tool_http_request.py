"""http_request against a real loopback webhook receiver."""
from __future__ import annotations

import json

import pytest

from workflows.errors import RetryableToolError, ToolError
from workflows.tools import REGISTRY

http_request = REGISTRY["http_request"]


def test_posts_json_with_the_idempotency_key(recorder, make_ctx):
    recorder.respond("/hook", body='{"ok": true}', headers={"Content-Type": "application/json"})
    result = http_request.run({"url": recorder.url + "/hook", "json": {"text": "Hi ✓"},
                               "headers": {"X-Team": "T1"}}, make_ctx())
    assert result.output == {"status": 200, "body": {"ok": True}}
    [request] = recorder.requests
    assert request.method == "POST"
    assert request.header("idempotency-key") == "wf-abc123-run-7-step-2"
    assert request.header("content-type") == "application/json"
    assert request.header("x-team") == "T1"
    assert json.loads(request.body) == {"text": "Hi ✓"}


def test_a_retry_sends_the_same_idempotency_key(recorder, make_ctx):
    recorder.respond("/hook", status=502, times=1)
    tool_input = {"url": recorder.url + "/hook", "json": [1]}
    with pytest.raises(RetryableToolError):
        http_request.run(tool_input, make_ctx())
    assert http_request.run(tool_input, make_ctx()).output["status"] == 200
    assert {r.header("idempotency-key") for r in recorder.requests} == {"wf-abc123-run-7-step-2"}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods(recorder, make_ctx, method):
    recorder.respond("/item", status=204)
    result = http_request.run({"url": recorder.url + "/item", "method": method, "json": None}, make_ctx())
    assert result.output == {"status": 204, "body": ""}
    assert (recorder.requests[0].method, recorder.requests[0].body) == (method, b"null")


def test_get_sends_no_body(recorder, make_ctx):
    recorder.respond("/status", body="up", headers={"Content-Type": "text/plain"})
    result = http_request.run({"url": recorder.url + "/status", "method": "GET"}, make_ctx())
    assert result.output == {"status": 200, "body": "up"}
    assert recorder.requests[0].body == b""


def test_get_with_a_json_body_is_refused(recorder, make_ctx):
    with pytest.raises(ToolError, match="a GET request has no body"):
        http_request.run({"url": recorder.url + "/x", "method": "GET", "json": {}}, make_ctx())
    assert recorder.requests == []


def test_a_large_response_is_truncated_to_64_kb_as_text(recorder, make_ctx):
    big = json.dumps({"data": "x" * 100_000})
    recorder.respond("/hook", body=big, headers={"Content-Type": "application/json"})
    body = http_request.run({"url": recorder.url + "/hook", "json": {}}, make_ctx()).output["body"]
    assert body == big[: 64 * 1024]


def test_a_4xx_fails_the_step_with_the_status_and_an_excerpt(recorder, make_ctx):
    recorder.respond("/hook", status=400, body='{"error": "invalid_payload"}')
    with pytest.raises(ToolError, match=r'^HTTP 400 from 127\.0\.0\.1: \{"error": "invalid_payload"\}$'):
        http_request.run({"url": recorder.url + "/hook", "json": {}}, make_ctx())


def test_a_429_is_retryable_with_retry_after(recorder, make_ctx):
    recorder.respond("/hook", status=429, headers={"Retry-After": "7"})
    with pytest.raises(RetryableToolError) as caught:
        http_request.run({"url": recorder.url + "/hook", "json": {}}, make_ctx())
    assert caught.value.retry_after == 7.0


def test_reserved_headers_are_refused_at_run_time_too(recorder, make_ctx):
    with pytest.raises(ToolError, match="set by Stepwise"):
        http_request.run({"url": recorder.url + "/hook", "headers": {"idempotency-key": "mine"}}, make_ctx())
    assert recorder.requests == []


def test_the_guard_applies(recorder, make_ctx):
    with pytest.raises(ToolError, match="refused: 127.0.0.1 is a loopback address"):
        http_request.run({"url": recorder.url + "/hook"}, make_ctx(allow_private_urls=False))
    assert recorder.requests == []
