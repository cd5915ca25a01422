"""Run `python -m qstash_dev` as a real subprocess, for any test suite.

    with QStashDevProcess(tmp_path / "qstash.db") as qstash:
        client = QStash(qstash.token, base_url=qstash.url)
        receiver = Receiver(qstash.current_key, qstash.next_key)

The token and keys are passed to the child explicitly (from `env`, else the
public dev defaults), so a `.env` in the working directory cannot change them.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

from qstash_dev.config import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY, DEV_TOKEN
from tests.support.loopback import free_port

__all__ = ["QStashDevProcess", "DEV_TOKEN", "DEV_CURRENT_SIGNING_KEY", "DEV_NEXT_SIGNING_KEY", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


class QStashDevProcess:
    """A qstash_dev subprocess on its own port and SQLite file."""

    def __init__(self, db_path: str | os.PathLike[str], port: int | None = None, dedup_window: float = 600,
                 retry_scale: float = 0.01, env: Mapping[str, str] | None = None,
                 retention: float | None = None) -> None:
        self.db_path = Path(db_path)
        self.port = port or free_port()
        self.dedup_window = dedup_window
        self.retry_scale = retry_scale
        self.retention = retention  # None: the server's default (or QSTASH_DEV_RETENTION in `env`)
        extra = dict(env or {})
        self.token = extra.get("QSTASH_TOKEN", DEV_TOKEN)
        self.current_key = extra.get("QSTASH_CURRENT_SIGNING_KEY", DEV_CURRENT_SIGNING_KEY)
        self.next_key = extra.get("QSTASH_NEXT_SIGNING_KEY", DEV_NEXT_SIGNING_KEY)
        self._env = {**os.environ, **extra, "QSTASH_TOKEN": self.token,
                     "QSTASH_CURRENT_SIGNING_KEY": self.current_key, "QSTASH_NEXT_SIGNING_KEY": self.next_key}
        self.log_path = self.db_path.with_name(self.db_path.name + ".log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL to give the SDK."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "QStashDevProcess":
        """Spawn the server and wait until GET /v2/keys answers."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "qstash_dev", "--host", "127.0.0.1", "--port", str(self.port),
                   "--db", str(self.db_path), "--dedup-window", str(self.dedup_window),
                   "--retry-scale", str(self.retry_scale)]
        if self.retention is not None:
            command += ["--retention", str(self.retention)]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, cwd=REPO_ROOT, env=self._env, stdout=log,
                                             stderr=subprocess.STDOUT)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        """Poll /v2/keys until it answers 200, or fail with the server's log."""
        deadline = time.monotonic() + START_TIMEOUT
        headers = {"Authorization": f"Bearer {self.token}"}
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"qstash_dev exited with {self._process.returncode}:\n{self.log()}")
            # http.client, not httpx: polling must stay cheap while the child starts up.
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
            try:
                connection.request("GET", "/v2/keys", headers=headers)
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"qstash_dev did not answer within {START_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def returncode(self) -> int | None:
        """The exit code once stopped, else None."""
        return self._process.poll() if self._process else None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL: the crash no code can react to."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def restart(self) -> "QStashDevProcess":
        """Stop (if running) and start again on the same port and database."""
        self.stop()
        return self.start()

    def __enter__(self) -> "QStashDevProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
