"""Hostile JSON bodies: one strict reader for the API and the QStash consumers; a 400, nothing stored."""
from __future__ import annotations

import json

import pytest

from tests.conftest import bearer
from tests.engine.conftest import sign
from tests.reliability.figures import record
from workflows.encoding import MAX_DEPTH, JsonError, loads_strict

STEP = {"toolName": "compose", "toolInput": {"template": "hello"}}
GOOD = json.dumps({"goal": "g", "steps": [STEP]})[:-1]  # a valid body, still open for one more field


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


HOSTILE = {
    "deep nesting in an ignored field": GOOD + ', "zz": ' + deep(100_000) + "}",
    "deep nesting just past the limit": GOOD + ', "zz": ' + deep(MAX_DEPTH + 1) + "}",
    "lone high surrogate": '{"goal": "\\ud800", "steps": [' + json.dumps(STEP) + "]}",
    "lone low surrogate in a key": '{"goal": "g", "\\udc00": 1}',
    "NaN": GOOD + ', "budget": NaN}',
    "Infinity in a webhook body": '{"goal": "g", "steps": [{"toolName": "http_request", "toolInput": '
                                  '{"url": "http://example.com/", "json": {"a": -Infinity}}}]}',
    "a float that overflows to infinity": '{"goal": "g", "steps": [{"toolName": "http_request", "toolInput": '
                                          '{"url": "http://example.com/", "json": {"a": 1e400}}}]}',
    "an integer beyond 64 bits": '{"goal": "g", "steps": [{"toolName": "http_request", "toolInput": '
                                 '{"url": "http://example.com/", "json": {"a": 99999999999999999999}}}]}',
    "a 5,000-digit integer": '{"goal": "g", "n": ' + "9" * 5000 + "}",
    "a NUL character": '{"goal": "a\\u0000b", "steps": [' + json.dumps(STEP) + "]}",
    "not UTF-8": b'{"goal": "\xff\xfe"}',
    "truncated": '{"goal": "g", "steps": [',
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_api_refuses_hostile_json_with_400_and_stores_nothing(client, api_user, unchanged, body):
    _, token = api_user
    data = body if isinstance(body, bytes) else body.encode()
    response = client.post("/api/workflows", data=data,
                           headers={**bearer(token), "Content-Type": "application/json"})
    record("fuzz cases")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.is_json and "JSON" in response.get_json()["error"]
    unchanged()
    listing = client.get("/api/workflows", headers=bearer(token))
    assert listing.status_code == 200 and listing.get_json()["items"] == []


def test_patch_and_decisions_use_the_same_reader(client, api_user):
    _, token = api_user
    headers = {**bearer(token), "Content-Type": "application/json"}
    created = client.post("/api/workflows", json={"goal": "g", "steps": [STEP]}, headers=headers).get_json()
    patched = client.patch(f"/api/workflows/{created['id']}", data='{"goal": NaN}', headers=headers)
    assert patched.status_code == 400 and "NaN" in patched.get_json()["error"]
    decided = client.post("/api/approvals/1", data='{"decision": "approve", "x": ' + deep(500) + "}",
                          headers=headers)
    assert decided.status_code in (400, 404)  # never a 500, whichever check answers first
    record("fuzz cases", 2)


@pytest.mark.parametrize("path", ["/api/workflows/step", "/api/workflows/trigger", "/api/workflows/failed",
                                  "/api/approvals/expire", "/api/maintenance/sweep"])
@pytest.mark.parametrize("body", [
    deep(100_000), '{"runId": NaN}', '{"workflowId": "\\ud800"}', '{"approvalId": 99999999999999999999999}',
    '{"workflowId": "a\\u0000"}', '{"approvalId": 4294967296}',
    '{"workflowId": "w", "runId": 4294967296, "conversationId": "c", "stepIndex": 0}',
    '{"workflowId": "w", "runId": 1, "conversationId": "c", "stepIndex": 4294967296}',
], ids=["deep", "nan", "surrogate", "bigint", "nul", "int32-approval", "int32-run", "int32-step"])
def test_signed_consumers_refuse_hostile_json_without_a_500(client, unchanged, path, body):
    """A correctly signed but hostile body (our own bug, or a leaked key) is answered, never crashes."""
    url = "http://127.0.0.1:5000" + path
    response = client.post(path, data=body, headers={"Upstash-Signature": sign(body, url),
                                                     "Content-Type": "application/json"})
    record("fuzz cases")
    assert response.status_code in (200, 489), response.get_data(as_text=True)
    unchanged()


@pytest.mark.parametrize("text, value", [
    ('{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
    ('"[{not brackets}]"', "[{not brackets}]"),
    ('"\\ud83d\\ude00"', "\U0001F600"),  # a surrogate *pair* is fine
    (deep(MAX_DEPTH), [[]] if MAX_DEPTH == 2 else loads_strict(deep(MAX_DEPTH))),
    (str(2**63 - 1), 2**63 - 1),
    (str(-(2**63 - 1)), -(2**63 - 1)),
])
def test_the_reader_accepts_ordinary_json(text, value):
    assert loads_strict(text) == value


def test_the_depth_count_ignores_brackets_inside_strings():
    assert loads_strict(json.dumps({"t": "[" * 10_000})) == {"t": "[" * 10_000}
    with pytest.raises(JsonError, match="nested deeper"):
        loads_strict('{"t": "]]]", "u": ' + deep(MAX_DEPTH + 1) + "}")
