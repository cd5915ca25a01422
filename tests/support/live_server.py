"""The app served over a real socket on loopback, from a thread of the test process.

    server = LiveServer(app).start()          # any free port
    server = LiveServer(app, port).start()    # a port chosen before the app was built

A thread rather than a process, so a test can still swap the app's clock or queue; a test that
must kill the app for real starts it with `flask run` instead (tests/engine/test_engine_crash.py).
"""
from __future__ import annotations

from typing import Any

from werkzeug.serving import make_server

from tests.support.loopback import ServerThread

__all__ = ["LiveServer"]


class LiveServer(ServerThread):
    """The app on 127.0.0.1 (threaded werkzeug server); `port` 0 picks a free one."""

    def __init__(self, app: Any, port: int = 0) -> None:
        super().__init__(make_server("127.0.0.1", port, app, threaded=True))

    def start(self) -> "LiveServer":
        """Serve from a new daemon thread."""
        super().start()
        return self
