"""Servers on loopback for tests: a free port, and any socketserver-based server run in a thread.

    with ServerThread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        httpx.get(server.url + "/ping")

`stop()` returns once the serving loop has noticed the shutdown, which it checks every
POLL_INTERVAL seconds: socketserver's default of 0.5 s made every teardown wait half a second.
"""
from __future__ import annotations

import socket
import socketserver
import threading

__all__ = ["POLL_INTERVAL", "ServerThread", "free_port"]

POLL_INTERVAL = 0.02


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """A socketserver-based server (http.server, werkzeug) serving from a daemon thread."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL},
                                        daemon=True)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ServerThread":
        """Serve from a new daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never ran
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
