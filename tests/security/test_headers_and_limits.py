"""Security headers on every page, cookies that stay on https, and bodies over 1 MiB refused
with 413 before they are read into memory."""
from __future__ import annotations

import socket
import time

import pytest

from app import MAX_REQUEST_BYTES
from tests.conftest import make_app
from tests.reliability.figures import record

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

SAMPLE = {"workflow_id": "0123456789abcdef", "run_id": 1, "approval_id": 1, "token_id": 1, "token": "x" * 20,
          "filename": "app.js"}


def get_routes(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every GET route of the app, filled with sample values (generated from the URL map)."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            paths.append(rule.build({k: SAMPLE.get(k, "1") for k in rule.arguments}, append_unknown=False)[1])
    return sorted(set(paths))


def check_headers(path: str, response) -> None:  # type: ignore[no-untyped-def]
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
    assert "frame-ancestors 'none'" in csp and headers.get("X-Frame-Options") == "DENY", path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "same-origin", path
    if not path.startswith("/static/"):
        assert headers.get("Cache-Control") == "no-store", path


def test_every_get_route_sends_the_security_headers_anonymous_and_logged_in(app, client, auth):
    routes = get_routes(app)
    assert "/" in routes and "/healthz" in routes and "/api/openapi.json" in routes
    for path in routes:
        check_headers(path, client.get(path))
    auth.register()
    for path in routes:
        check_headers(path, client.get(path))
        record("fuzz cases")


def test_cookies_are_secure_httponly_and_samesite_in_production(migrated):
    app = make_app(migrated, STEPWISE_ENV="production", APP_BASE_URL="https://stepwise.example",
                   QSTASH_TOKEN="prod-token", QSTASH_CURRENT_SIGNING_KEY="sig_prod_current",
                   QSTASH_NEXT_SIGNING_KEY="sig_prod_next")
    client = app.test_client()
    page = client.get("/auth/register", base_url="https://stepwise.example")
    cookie = page.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


def _raw_request(port: int, head: bytes, body: bytes, wait: float = 10) -> bytes:
    """Send a request's head and the start of its body; return what the server answers meanwhile."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head + body)
        answer = b""
        deadline = time.monotonic() + wait
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize("path, content_type", [
    ("/api/workflows", "application/json"), ("/api/workflows/step", "application/json"),
    ("/auth/login", "application/x-www-form-urlencoded"), ("/api/workflows/plan", "application/json"),
])
def test_a_body_declared_over_the_limit_is_413_before_it_is_sent(live_server, api_user, path, content_type):
    """The server answers after reading only the headers: the other 99 MB are never sent."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Authorization: Bearer {api_user[1]}\r\nContent-Length: {100 * 2**20}\r\n\r\n").encode()
    answer = _raw_request(live_server.port, head, b"{" + b" " * 1000)
    record("fuzz cases")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.parametrize("path", ["/api/workflows/step", "/api/workflows"])
def test_a_chunked_body_over_the_limit_is_413_not_truncated(live_server, api_user, path):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api_user[1]}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_REQUEST_BYTES // len(chunk) + 2))
    answer = _raw_request(live_server.port, head, body + b"0\r\n\r\n")
    record("fuzz cases")
    assert b" 413 " in answer.split(b"\r\n", 1)[0], answer[:200]


def test_a_chunked_body_within_the_limit_is_read_whole(live_server, api_user):
    raw = b'{"goal": "chunked", "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}]}'
    head = (f"POST /api/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api_user[1]}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    answer = _raw_request(live_server.port, head, b"%x\r\n%s\r\n0\r\n\r\n" % (len(raw), raw))
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
