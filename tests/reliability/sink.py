"""A side-effect sink on loopback that counts effects by their Idempotency-Key.

    with Sink(fail_first=1, retry_after=2) as sink:   # the first attempt of every key: 503
        ... runs post webhooks to sink.url + "/hook" ...
_keys

Each distinct key answered 2xx is one effect (the receiver deduplicates by key, the contract of
http_request). A key answered 2xx again is a redelivery the receiver absorbed: `repeats()` counts
them, for tests where none may happen (the app itself never died). Failed attempts are not effects.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Sink:
    """Threaded HTTP server: answers 503 to the first `fail_first` attempts of each key, else 200."""

    def __init__(self, fail_first: int = 0, retry_after: float | None = None, delay: float = 0.0) -> None:
        self.fail_first, self.retry_after, self.delay = fail_first, retry_after, delay
        self._lock = threading.Condition()
        self.attempts: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key") or f"no-key-{time.time()}"
                if sink.delay:
                    time.sleep(sink.delay)
                with sink._lock:
                    sink.attempts[key] += 1
                    ok = sink.attempts[key] > sink.fail_first
                    if ok:
                        sink.successes[key] += 1
                    sink._lock.notify_all()
                self.send_response(200 if ok else 503)
                if not ok and sink.retry_after:
                    self.send_header("Retry-After", str(sink.retry_after))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            request_queue_size = 512

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hangs up (a killed app) is expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def effects(self) -> set[str]:
        """Keys answered 2xx at least once."""
        with self._lock:
            return {k for k, n in self.successes.items() if n}

    def repeats(self) -> int:
        """2xx answers beyond the first for the same key, summed over keys."""
        with self._lock:
            return sum(n - 1 for n in self.successes.values() if n > 1)

    def wait_attempts(self, count: int, timeout: float = 30) -> None:
        """Until at least `count` attempts (any key) arrived."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(self.attempts.values()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"only {sum(self.attempts.values())} of {count} attempts arrived")
                self._lock.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
