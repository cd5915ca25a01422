"""Fixtures for the qstash_dev suite: one shared server process and the real SDK (`recorder`: tests/conftest.py)."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import httpx
import pytest
from qstash import QStash, Receiver

from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import RecordedRequest, Recorder
from tests.support.signing import unverified_claims
from tests.support.stack_tier import stack_fixture
from tests.support.waiting import eventually

T = TypeVar("T")


@stack_fixture(scope="session")
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


def _claims(request: RecordedRequest) -> dict:
    """The JWT claims of a delivery's Upstash-Signature (its signature is checked elsewhere)."""
    return unverified_claims(request.header("Upstash-Signature"))


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


Settle = Callable[..., None]


@pytest.fixture
def settle(client: QStash, recorder: Recorder) -> Settle:
    """Publish one more message and wait for its delivery: what was due before it had its turn.

    qstash_dev claims due messages in order, so this is the positive signal a check that
    something was NOT delivered waits for. `sdk` is another server's client; `delay` delays it.
    """
    def wait(sdk: QStash | None = None, delay: str | None = None) -> None:
        marker = f"/settled-{uuid.uuid4().hex[:12]}"
        (sdk or client).message.publish(url=recorder.url + marker, body="settle", **({"delay": delay} if delay else {}))
        recorder.wait_for(1, path=marker, timeout=10)

    return wait


@pytest.fixture
def until() -> Callable[..., object]:
    """Wait for a positive signal: `until(probe, "what did not happen", timeout=5)` returns the
    first truthy value of `probe` (tests/support/waiting.py's `eventually`, in this suite's words)."""
    def wait(probe: Callable[[], T], failure: str, timeout: float = 5.0) -> T:
        return eventually(probe, timeout=timeout, what=failure)

    return wait
