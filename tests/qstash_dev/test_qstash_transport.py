"""The delivery transport: keep-alive reuse and recovery when servers close connections."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from qstash_dev.transport import Transport, TransportError
from tests.support.loopback import ServerThread, free_port
from tests.support.stack_tier import stack_fixture


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 0.3  # closes a kept-alive connection after 0.3 s idle
    connections: set[int] = set()

    def do_POST(self) -> None:
        self.connections.add(self.client_address[1])
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = b"x" * 100 if self.path == "/big" else body
        self.send_response(200)
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:
        time.sleep(1)

    def log_message(self, *args: object) -> None:
        pass


@stack_fixture
def server() -> Iterator[str]:
    """A keep-alive server with a short idle timeout."""
    _Handler.connections = set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    with ServerThread(httpd) as serving:
        yield serving.url


def test_connection_is_reused_and_body_round_trips(server: str) -> None:
    transport = Transport(max_body=1000)
    replies = [transport.request("POST", f"{server}/echo?q=1", [("X-A", "1")], f"b{i}".encode(), 5) for i in range(3)]
    assert [(r.status, r.body) for r in replies] == [(200, b"b0"), (200, b"b1"), (200, b"b2")]
    assert len(_Handler.connections) == 1


def test_idle_connection_closed_by_the_server_is_replaced_transparently(server: str) -> None:
    transport = Transport(max_body=1000)
    assert transport.request("POST", f"{server}/a", [], b"1", 5).body == b"1"
    time.sleep(0.6)  # the server has closed the idle connection by now
    assert transport.request("POST", f"{server}/a", [], b"2", 5).body == b"2"
    assert len(_Handler.connections) == 2


def test_connection_close_and_oversized_bodies_start_afresh(server: str) -> None:
    transport = Transport(max_body=10)
    assert transport.request("POST", f"{server}/close", [], b"c", 5).body == b"c"
    big = transport.request("POST", f"{server}/big", [], b"", 5)
    assert big.body == b"x" * 10  # truncated to the limit
    assert transport.request("POST", f"{server}/echo", [], b"after", 5).body == b"after"


def test_timeouts_and_refused_connections_raise_transport_errors(server: str) -> None:
    transport = Transport(max_body=10)
    with pytest.raises(TransportError, match="timed out after 0.2s"):
        transport.request("GET", f"{server}/slow", [], b"", 0.2)
    with pytest.raises(TransportError, match="ConnectionRefused"):
        transport.request("POST", f"http://127.0.0.1:{free_port()}/", [], b"", 2)
