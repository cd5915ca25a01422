"""Clients that drop their connection: one log line, no traceback, nothing half-stored."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any, Callable

import httpx

from tests.support.qstash_server import QStashDevProcess


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a killed process or an aborting HTTP client does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _connect_and_ask(qstash: QStashDevProcess) -> socket.socket:
    """A kept-alive connection that has had one request answered."""
    sock = socket.create_connection(("127.0.0.1", qstash.port))
    sock.sendall(f"GET /v2/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {qstash.token}\r\n\r\n".encode())
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    return sock


def test_dropped_connections_print_no_traceback(qstash: QStashDevProcess, api: httpx.Client,
                                                until: Callable[..., Any]) -> None:
    before = len(qstash.log())
    _reset(_connect_and_ask(qstash))  # idle between requests
    half_headers = _connect_and_ask(qstash)
    half_headers.sendall(b"GET /v2/keys HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.05)  # let the server start reading it
    _reset(half_headers)
    half_body = _connect_and_ask(qstash)
    half_body.sendall(f"POST /v2/publish/http://gone.test/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      f"{qstash.token}\r\nContent-Length: 100\r\n\r\nonly part of it".encode())
    time.sleep(0.05)
    _reset(half_body)
    short_body = _connect_and_ask(qstash)
    short_body.sendall(f"POST /v2/publish/http://gone.test/y HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                       f"{qstash.token}\r\nContent-Length: 100\r\n\r\nshort".encode())
    short_body.shutdown(socket.SHUT_WR)  # an orderly close before the body is complete
    short_body.recv(100)
    short_body.close()

    noticed = until(lambda: (new := qstash.log()[before:]).count("dropped its connection") + new.count(
        "went away") >= 4 and new, "the server did not notice every dropped client")
    assert "Traceback" not in noticed
    assert api.get("/v2/logs", params={"host": "gone.test"}).json()["logs"] == []  # no half body stored
    assert api.get("/v2/keys").status_code == 200
