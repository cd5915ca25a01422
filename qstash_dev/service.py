"""Wiring: database, engine and HTTP server of one running qstash_dev."""

from __future__ import annotations

import threading
from pathlib import Path

from .config import Config
from .db import Database
from .engine import Engine
from .server import make_server
from .web import Context

__all__ = ["QStashDev"]


class QStashDev:
    """A running server: `start()`, `url`, `stop()`. Also usable in-process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Database(config.db)
        self.engine = Engine(self.db, config)
        self.httpd = make_server(Context(self.db, self.engine, config), config.host, config.port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients use (the real port when started with port 0)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Recover state, start delivering and start answering."""
        self.engine.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="qstash-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering, then stop the engine; pending work stays in SQLite."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.engine.stop()
        self.db.close()

    def describe(self) -> str:
        """The one start-up line."""
        return f"qstash_dev listening on {self.url} (db {Path(self.config.db).resolve()})"
