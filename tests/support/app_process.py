"""The app as a real process (gunicorn, as in production) that a test can SIGKILL and start again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_SECRET, clean_tables, create_user_with_token, make_app

ROOT = Path(__file__).resolve().parents[2]


def fresh_owner(database_url: str, email: str) -> tuple[Any, int, str]:
    """Empty tables and one user with an API token, written before an app process starts:
    (an app on the same database, for reading it; the user's id; the token)."""
    app = make_app(database_url)
    with app.app_context():
        clean_tables()
    user_id, token = create_user_with_token(app, email)
    return app, user_id, token


def app_env(database_url: str, base_url: str, qstash_url: str, **extra: str) -> dict[str, str]:
    """The environment of an app process on the test database, delivering to `base_url`."""
    return {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "APP_BASE_URL": base_url,
            "QSTASH_URL": qstash_url, "STEPWISE_ENV": "development", **extra}


class GunicornApp:
    """`gunicorn 'app:create_app()'` in its own process group, so a kill takes master and workers."""

    def __init__(self, port: int, env: dict[str, str], log: Path, workers: int = 1, threads: int = 16) -> None:
        self.port, self.env, self.log, self.workers, self.threads = port, env, log, workers, threads
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> "GunicornApp":
        command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", str(self.workers),
                   "--threads", str(self.threads), "--graceful-timeout", "2", "--timeout", "120",
                   # Its default control socket is one path for every gunicorn on the machine.
                   "--no-control-socket",
                   "app:create_app()"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"app did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: nothing in the app can react."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
