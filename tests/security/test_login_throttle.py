"""Login throttling lives in the database and holds under parallel guessing (every connection its own
transaction, as separate processes would be): at most five guesses ever reach the password check."""
from __future__ import annotations

import re
import threading

import httpx
import pytest

from tests.reliability.figures import record
from workflows.integrations import accounts

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _guess(url: str, password: str, results: list[str], start: threading.Barrier) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        token = CSRF.search(client.get("/auth/login").text).group(1)
        start.wait()
        page = client.post("/auth/login", data={"email": "victim@example.com", "password": password,
                                                "csrf_token": token}).text
    results.append("wrong" if "Wrong email or password" in page
                   else "locked" if "Too many failed attempts" in page else "other")


def test_parallel_guesses_never_get_more_than_five_password_checks(app, live_server):
    with app.app_context():
        accounts.create_user("victim@example.com", "the-real-password")
    guesses = 20
    results: list[str] = []
    start = threading.Barrier(guesses)
    threads = [threading.Thread(target=_guess, args=(live_server.url, f"guess-number-{i}", results, start))
               for i in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    record("fuzz cases", guesses)
    assert len(results) == guesses and "other" not in results, results
    wrong = results.count("wrong")
    assert wrong <= accounts.MAX_FAILED_LOGINS, results
    # A burst may leave checks unused (guesses saw each other's rows); one at a time, the rest of
    # the five are available, and not one more, and then the right password is locked out too.
    sequential: list[str] = []
    while not sequential or sequential[-1] == "wrong":
        _guess(live_server.url, "one-more-guess", sequential, threading.Barrier(1))
    assert wrong + sequential.count("wrong") == accounts.MAX_FAILED_LOGINS
    after: list[str] = []
    _guess(live_server.url, "the-real-password", after, threading.Barrier(1))
    assert after == ["locked"]
