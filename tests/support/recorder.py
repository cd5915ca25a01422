"""A recording HTTP destination on loopback, for tests of anything that sends webhooks.

    with Recorder() as rec:
        rec.respond("/flaky", status=500, times=2)   # then the default 200
        ... publish to rec.url + "/flaky" ...
        first, second, third = rec.wait_for(3, path="/flaky")

Every request is recorded (method, path, headers, body, time). Responses are
configured per path (without the query string): status, headers, body, and a
delay before answering; `times` limits how often a rule applies.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.loopback import ServerThread

__all__ = ["Recorder", "RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the recorder received."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes
    time: float  # time.time() when it arrived

    @property
    def route(self) -> str:
        """The path without the query string."""
        return self.path.partition("?")[0]

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        return self.headers.get(name.lower())

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")


@dataclass
class _Rule:
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float
    times: int | None  # None: forever
    used: int = field(default=0)


class Recorder:
    """A threaded loopback HTTP server that records requests and answers as told."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._rules: dict[str, list[_Rule]] = {}
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each reply waits ~40 ms for a delayed ACK

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = recorder._record(RecordedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                if rule.delay:
                    time.sleep(rule.delay)
                self.send_response(rule.status)
                for name, value in rule.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(rule.body)))
                self.end_headers()
                self.wfile.write(rule.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

            def do_HEAD(self) -> None:
                recorder._record(RecordedRequest(
                    "HEAD", self.path, {k.lower(): v for k, v in self.headers.items()}, b"", time.time()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False  # a handler still sleeping must not delay close()
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that hangs up mid-reply (a timeout test, a killed app) is expected.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self._serving = ServerThread(Server((host, 0), Handler)).start()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        return self._serving.url

    @property
    def requests(self) -> list[RecordedRequest]:
        """Everything received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def respond(self, path: str, status: int = 200, headers: dict[str, str] | None = None,
                delay: float = 0, times: int | None = None, body: bytes | str = b"") -> None:
        """Answer requests to `path` like this (`times` uses, or forever); rules queue up in order."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._rules.setdefault(path, []).append(_Rule(status, dict(headers or {}), data, delay, times))

    def _record(self, request: RecordedRequest) -> _Rule:
        """Store a request and pick the rule that answers it."""
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            for rule in self._rules.get(request.route, []):
                if rule.times is None or rule.used < rule.times:
                    rule.used += 1
                    return rule
        return _Rule(200, {}, b"", 0, None)

    def received(self, path: str | None = None) -> list[RecordedRequest]:
        """Requests so far, optionally only those to `path` (query string ignored)."""
        return [r for r in self.requests if path is None or r.route == path]

    def wait_for(self, count: int, timeout: float = 10.0, path: str | None = None) -> list[RecordedRequest]:
        """Wait until at least `count` requests (to `path`) arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                matching = [r for r in self._requests if path is None or r.route == path]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} request(s){f' to {path}' if path else ''} within {timeout}s, "
                        f"got {len(matching)}: {[r.path for r in matching]}")
                self._lock.wait(remaining)

    def close(self) -> None:
        """Stop the server."""
        self._serving.stop()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
