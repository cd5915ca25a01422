"""Every signed consumer checks Upstash-Signature before reading anything: eight ways to get it wrong,
each a 401 that stores nothing, and the next signing key accepted (key rotation)."""
from __future__ import annotations

import json
import time

import pytest

from config import DEV_NEXT_SIGNING_KEY
from tests.engine.conftest import sign
from tests.reliability.figures import record

BASE = "http://127.0.0.1:5000"
BODIES = {
    "/api/workflows/step": {"workflowId": "w", "runId": 1, "conversationId": "c", "stepIndex": 0},
    "/api/workflows/trigger": {"workflowId": "w"},
    "/api/workflows/failed": {"sourceBody": "e30=", "status": 500},
    "/api/approvals/expire": {"approvalId": 1},
    "/api/maintenance/sweep": {},
}


def bad_signatures(path: str, raw: str) -> dict[str, dict[str, str]]:
    url, now = BASE + path, int(time.time())
    other = json.dumps({"workflowId": "someone-else"})
    return {
        "missing": {},
        "empty": {"Upstash-Signature": ""},
        "wrong key": {"Upstash-Signature": sign(raw, url, key="sig_not_the_real_key_at_all")},
        "expired": {"Upstash-Signature": sign(raw, url, iat=now - 900, nbf=now - 900, exp=now - 600)},
        "not yet valid": {"Upstash-Signature": sign(raw, url, nbf=now + 600, exp=now + 900)},
        "wrong sub": {"Upstash-Signature": sign(raw, BASE + "/api/other")},
        "another host in sub": {"Upstash-Signature": sign(raw, "https://evil.example" + path)},
        "wrong issuer": {"Upstash-Signature": sign(raw, url, iss="NotUpstash")},
        "changed body": {"Upstash-Signature": sign(raw + " ", url)},
        "replayed with another body": {"Upstash-Signature": sign(other, url)},
        "alg none": {"Upstash-Signature": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + sign(raw, url).split(".")[1] + "."},
        "garbage": {"Upstash-Signature": "not-a-jwt"},
    }


@pytest.mark.parametrize("path", BODIES)
def test_bad_signatures_are_401_and_store_nothing(client, unchanged, path):
    raw = json.dumps(BODIES[path])
    for kind, headers in bad_signatures(path, raw).items():
        response = client.post(path, data=raw, headers={"Content-Type": "application/json", **headers})
        record("signature cases")
        assert response.status_code == 401, (kind, response.get_data(as_text=True))
        assert "signature" in response.get_json()["error"]
    unchanged()


@pytest.mark.parametrize("path", BODIES)
def test_the_next_signing_key_is_accepted(client, path):
    raw = json.dumps(BODIES[path])
    response = client.post(path, data=raw, headers={"Content-Type": "application/json",
                                                    "Upstash-Signature": sign(raw, BASE + path, key=DEV_NEXT_SIGNING_KEY)})
    record("signature cases")
    assert response.status_code != 401, response.get_data(as_text=True)
