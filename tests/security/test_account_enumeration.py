"""A login does the same work whether or not the address has an account, so its time tells
nobody which addresses do: an unknown address is checked against a dummy hash of the same cost.

Counted, not timed: every scrypt call of the request, with its parameters (a time on this shared
machine would prove nothing either way).
"""
from __future__ import annotations

import hashlib

import pytest

from models import PASSWORD_HASH
from tests.conftest import csrf_from
from workflows.integrations import accounts

COST = tuple(int(part) for part in PASSWORD_HASH.split(":")[1:])  # (n, r, p)


@pytest.fixture
def scrypt_calls(monkeypatch):  # type: ignore[no-untyped-def]
    """Every hashlib.scrypt call from now on, as (n, r, p)."""
    calls: list[tuple[int, int, int]] = []
    real = hashlib.scrypt

    def counting(password, *, salt, n, r, p, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((n, r, p))
        return real(password, salt=salt, n=n, r=r, p=p, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def _log_in(client, email: str, password: str) -> str:
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    return client.post("/auth/login", data={"email": email, "password": password,
                                            "csrf_token": token}).get_data(as_text=True)


def test_an_unknown_address_costs_the_same_hash_as_a_wrong_password(app, client, scrypt_calls):
    with app.app_context():
        accounts.create_user("known@example.com", "the-real-password")
    _log_in(client, "warm-up@example.com", "x" * 12)  # the dummy hash is made once, on first use
    scrypt_calls.clear()

    known = _log_in(client, "known@example.com", "a-wrong-password")
    work_known = list(scrypt_calls)
    scrypt_calls.clear()
    unknown = _log_in(client, "nobody@example.com", "a-wrong-password")
    work_unknown = list(scrypt_calls)

    assert "Wrong email or password." in known and "Wrong email or password." in unknown
    assert work_known == work_unknown == [COST]


def test_a_locked_address_costs_no_hash_whether_or_not_it_has_an_account(app, client, scrypt_calls):
    """Throttling counts by address before the lookup, so the lock-out is the same for both too."""
    with app.app_context():
        accounts.create_user("known@example.com", "the-real-password")
    for email in ("known@example.com", "nobody@example.com"):
        for _ in range(accounts.MAX_FAILED_LOGINS):
            _log_in(client, email, "a-wrong-password")
        scrypt_calls.clear()
        page = _log_in(client, email, "a-wrong-password")
        assert "Too many failed attempts" in page and scrypt_calls == [], email
