"""Fixtures for the qstash_dev suite: one shared server process, a recorder, the real SDK."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import httpx
import jwt
import pytest
from qstash import QStash, Receiver

from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import RecordedRequest, Recorder

T = TypeVar("T")


@pytest.fixture(scope="session")
def qstash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QStashDevProcess]:
    """One qstash_dev for the suite: backoff scaled by 0.01, the default 600 s dedup window."""
    server = QStashDevProcess(tmp_path_factory.mktemp("qstash") / "qstash.db", retry_scale=0.01)
    with server:
        yield server


@pytest.fixture
def client(qstash: QStashDevProcess) -> QStash:
    """The real SDK pointed at the shared server, without client-side retries."""
    return QStash(qstash.token, base_url=qstash.url, retry=False)


@pytest.fixture(scope="session")
def api(qstash: QStashDevProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client with the token, for what the SDK does not expose."""
    with httpx.Client(base_url=qstash.url, headers={"Authorization": f"Bearer {qstash.token}"}) as http:
        yield http


@pytest.fixture(scope="session")
def anonymous(qstash: QStashDevProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client without a token."""
    with httpx.Client(base_url=qstash.url) as http:
        yield http


@pytest.fixture
def receiver(qstash: QStashDevProcess) -> Receiver:
    """The real SDK's signature verifier with the server's keys."""
    return Receiver(qstash.current_key, qstash.next_key)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A fresh recording destination for one test."""
    with Recorder() as rec:
        yield rec


def _claims(request: RecordedRequest) -> dict:
    """The JWT claims of a delivery's Upstash-Signature (its signature is checked elsewhere)."""
    return jwt.decode(request.header("Upstash-Signature"), options={"verify_signature": False})


def _callback_json(request: RecordedRequest) -> dict:
    """A (failure) callback body, with `body` and `sourceBody` decoded from base64."""
    data = json.loads(request.body)
    data["body"] = base64.b64decode(data["body"]).decode()
    data["sourceBody"] = base64.b64decode(data["sourceBody"]).decode()
    return data


def _set_schedule_due(db_path: Path, schedule_id: str, when: float) -> None:
    """Move a schedule's next fire time while the server is down (stands in for time passing)."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE schedules SET next_fire_at = ? WHERE id = ?", (when, schedule_id))
    conn.close()


@pytest.fixture
def claims() -> Callable[[RecordedRequest], dict]:
    """Decode the signature claims of a recorded delivery."""
    return _claims


@pytest.fixture
def callback_json() -> Callable[[RecordedRequest], dict]:
    """Decode a recorded callback body."""
    return _callback_json


@pytest.fixture
def set_schedule_due() -> Callable[[Path, str, float], None]:
    """Make a schedule due in a stopped server's database."""
    return _set_schedule_due


def _until(probe: Callable[[], T], failure: str, timeout: float = 5.0) -> T:
    """Call `probe` until it returns something truthy, and return that; fail with `failure` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, f"{failure} (waited {timeout:g}s)"
        time.sleep(0.05)
    return result


@pytest.fixture
def until() -> Callable[..., object]:
    """Wait for a positive signal: `until(probe, "what did not happen", timeout=5)`."""
    return _until
