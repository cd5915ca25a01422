"""Configuration: flags, environment, `.env`, defaults, and the process as a user starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from qstash_dev.config import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY, DEV_TOKEN, load_config
from tests.support.qstash_server import REPO_ROOT, QStashDevProcess, free_port


def test_defaults_are_the_public_dev_values(tmp_path: Path) -> None:
    config = load_config([], environ={}, cwd=tmp_path)
    assert (config.host, config.port, config.db) == ("127.0.0.1", 8080, "instance/qstash_dev.db")
    assert (config.dedup_window, config.retry_scale) == (600, 1)
    assert (config.token, config.current_signing_key, config.next_signing_key) == (
        DEV_TOKEN, DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY)


def test_flags_are_read() -> None:
    config = load_config(["--host", "0.0.0.0", "--port", "9999", "--db", "/tmp/x.db", "--dedup-window", "5",
                          "--retry-scale", "0.5"], environ={})
    assert (config.host, config.port, config.db, config.dedup_window, config.retry_scale) == (
        "0.0.0.0", 9999, "/tmp/x.db", 5, 0.5)


def test_negative_numbers_are_refused() -> None:
    with pytest.raises(SystemExit):
        load_config(["--retry-scale", "-1"], environ={})


def test_dotenv_fills_in_but_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QSTASH_TOKEN=from-file\nQSTASH_CURRENT_SIGNING_KEY=cur-file\n"
                                   "QSTASH_NEXT_SIGNING_KEY=\n")
    config = load_config([], environ={"QSTASH_CURRENT_SIGNING_KEY": "cur-env"}, cwd=tmp_path)
    assert config.token == "from-file"
    assert config.current_signing_key == "cur-env"
    assert config.next_signing_key == DEV_NEXT_SIGNING_KEY  # empty counts as unset


@pytest.mark.stack  # starts qstash_dev itself
def test_custom_token_from_the_environment_is_required(tmp_path: Path) -> None:
    with QStashDevProcess(tmp_path / "q.db", env={"QSTASH_TOKEN": "team-token"}) as server:
        assert httpx.get(f"{server.url}/v2/keys", headers={"Authorization": f"Bearer {DEV_TOKEN}"}).status_code == 401
        assert httpx.get(f"{server.url}/v2/keys", headers={"Authorization": "Bearer team-token"}).status_code == 200


@pytest.mark.stack  # starts qstash_dev itself
def test_plain_start_uses_dotenv_and_creates_the_default_db_folder(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QSTASH_TOKEN=dotenv-token\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSTASH_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "qstash_dev", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first_line = process.stdout.readline()
        assert first_line.strip() == (
            f"qstash_dev listening on http://127.0.0.1:{port} (db {tmp_path / 'instance' / 'qstash_dev.db'})")
        assert (tmp_path / "instance" / "qstash_dev.db").exists()
        response = httpx.get(f"http://127.0.0.1:{port}/v2/keys", headers={"Authorization": "Bearer dotenv-token"})
        assert response.json() == {"current": DEV_CURRENT_SIGNING_KEY, "next": DEV_NEXT_SIGNING_KEY}
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0


@pytest.mark.stack  # starts qstash_dev itself
def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with QStashDevProcess(tmp_path / "a.db") as first:
        result = subprocess.run([sys.executable, "-m", "qstash_dev", "--port", str(first.port), "--db",
                                 str(tmp_path / "b.db")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{first.port}" in result.stderr


def test_memory_database_is_refused() -> None:
    with pytest.raises(SystemExit):
        load_config(["--db", ":memory:"], environ={})
