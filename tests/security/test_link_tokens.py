"""The links Stepwise emails, attacked: the approval link, the password-reset link and the
notification-address verification link, tampered with, reused, expired, replayed for another
purpose, re-pointed at another object (another approval, another user) or signed with another
key. Each gets a clear page with the right status, never a 500 or a stack trace, and changes
nothing at all; only the genuine link, once, does what it says.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from extensions import db
from models import Approval, ApprovalStatus, Outbox, User, utcnow
from tests.conftest import add_user, csrf_from
from tests.reliability.figures import record
from tests.security.conftest import table_rows
from tests.support.approvals import seed
from tests.support.memory_queue import MemoryQueue
from workflows.engine import outbox
from workflows.integrations import profile, signed_links

ALREADY_USED = "already used"
NOT_VALID = "not valid"


@dataclass
class Links:
    """Ada and Bob, an approval of each, and an anonymous browser (with a CSRF token) to click."""

    app: Any
    client: Any
    csrf: str
    ada: int
    bob: int
    approval: int  # Ada's
    bobs_approval: int

    @property
    def services(self) -> Any:
        return self.app.extensions["stepwise"]

    def approval_path(self, approval_id: int) -> str:
        with self.app.app_context():
            return "/approvals/" + outbox.approval_link(self.services, approval_id).rsplit("/", 1)[1]

    def reset_path(self, user_id: int) -> str:
        with self.app.app_context():
            email = db.session.get(User, user_id).email
            return "/auth/reset/" + profile.request_password_reset(self.services, email).rsplit("/", 1)[1]

    def verify_path(self, user_id: int, address: str = "elsewhere@example.com") -> str:
        with self.app.app_context():
            profile.set_notification_email(self.services, db.session.get(User, user_id), address)
            text = db.session.scalar(sa.select(Outbox.text).order_by(Outbox.id.desc()).limit(1))
        return re.search(r"(/settings/verify/\S+)", text).group(1)

    def signed(self, purpose: str, payload: dict, key: str | None = None) -> str:
        """A token signed properly (with our key unless `key`), carrying whatever payload."""
        return signed_links.make(key or self.app.config["SECRET_KEY"], purpose, payload)

    def post(self, path: str, **form: str) -> Any:
        return self.client.post(path, data={**form, "csrf_token": self.csrf})


@pytest.fixture
def links(app) -> Links:
    app.extensions["stepwise"].queue = MemoryQueue()
    with app.app_context():
        ada, bob = add_user("ada@example.com").id, add_user("bob@example.com").id
        approval, _, _ = seed("ada@example.com", "http_request")
        bobs, _, _ = seed("bob@example.com", "http_request", goal="Bob's own workflow")
    client = app.test_client()
    return Links(app, client, csrf_from(client.get("/auth/login").get_data(as_text=True)), ada, bob, approval, bobs)


def tampered(token: str) -> str:
    """The first character of the signature changed (not the last: its low bits are base64
    padding, so some changes there spell the same signature differently)."""
    rest, signature = token.rsplit(".", 1)
    return f"{rest}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def repointed(token: str, other: str) -> str:
    """`other`'s payload under `token`'s timestamp and signature: the link re-pointed at another object."""
    return ".".join([other.split(".")[0], *token.split(".")[1:]])


def head(path: str) -> str:
    return path.rsplit("/", 1)[0] + "/"


def token(path: str) -> str:
    return path.rsplit("/", 1)[1]


Request = tuple[str, str, dict[str, str] | None]  # method, path, form


def later(seconds: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Move the signing clock forward (itsdangerous reads time.time())."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def _decided_first(links: Links) -> str:
    path = links.approval_path(links.approval)
    assert links.post(path, decision="approve").status_code == 200
    return path


def _expired(links: Links) -> str:
    with links.app.app_context():
        db.session.get(Approval, links.approval).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    return links.approval_path(links.approval)


def _cancelled(links: Links) -> str:
    with links.app.app_context():
        db.session.get(Approval, links.approval).status = ApprovalStatus.CANCELLED
        db.session.commit()
    return links.approval_path(links.approval)


def _reset_used(links: Links) -> str:
    path = links.reset_path(links.ada)
    assert links.post(path, password="a-brand-new-password").status_code == 302
    return path


def _reset_after_password_change(links: Links) -> str:
    path = links.reset_path(links.ada)
    with links.app.app_context():
        db.session.get(User, links.ada).set_password("changed-in-settings")
        db.session.commit()
    return path


def _verify_used(links: Links) -> str:
    path = links.verify_path(links.ada)
    assert links.client.get(path).status_code == 200
    return path


def _verify_replaced(links: Links) -> str:
    first = links.verify_path(links.ada, "first@example.com")
    links.verify_path(links.ada, "second@example.com")
    return first


A = "/approvals/"
R = "/auth/reset/"
V = "/settings/verify/"
Case = tuple[Callable[[Links], Request], int, str]
DECIDE = {"decision": "approve"}
NEW_PASSWORD = {"password": "an-attackers-password"}

CASES: dict[str, Case] = {
    # The approval link: GET shows, POST decides; the token is bound to one approval.
    "approval tampered, shown": (lambda k: ("GET", tampered(k.approval_path(k.approval)), None), 404, NOT_VALID),
    "approval tampered, decided": (lambda k: ("POST", tampered(k.approval_path(k.approval)), DECIDE), 404, NOT_VALID),
    "approval re-pointed at another user's approval": (lambda k: ("POST", A + repointed(
        token(k.approval_path(k.approval)), token(k.approval_path(k.bobs_approval))), DECIDE), 404, NOT_VALID),
    "approval signed with another key": (lambda k: ("POST", A + k.signed(signed_links.APPROVAL, {"a": k.approval},
                                                                         key="another-deployment"), DECIDE), 404, NOT_VALID),
    "a reset token as an approval link": (lambda k: ("POST", A + token(k.reset_path(k.ada)), DECIDE), 404, NOT_VALID),
    "approval that does not exist": (lambda k: ("POST", A + k.signed(signed_links.APPROVAL, {"a": 2**31 - 1}), DECIDE),
                                     404, "no longer exists"),
    "approval id of the wrong type": (lambda k: ("POST", A + k.signed(signed_links.APPROVAL, {"a": [k.approval]}),
                                                 DECIDE), 404, "no longer exists"),
    "approval token not a dict": (lambda k: ("GET", A + signed_links.URLSafeTimedSerializer(
        k.app.config["SECRET_KEY"], salt=signed_links.APPROVAL).dumps([1]), None), 404, NOT_VALID),
    "approval token of garbage": (lambda k: ("POST", A + "x" * 5000, DECIDE), 404, NOT_VALID),
    "approval reused, shown": (lambda k: ("GET", _decided_first(k), None), 200, "Already decided"),
    "approval reused, decided again": (lambda k: ("POST", _decided_first(k), {"decision": "reject"}), 409,
                                       "already approved by ada@example.com"),
    "approval expired, shown": (lambda k: ("GET", _expired(k), None), 200, ">Expired</span>"),
    "approval expired, decided": (lambda k: ("POST", _expired(k), DECIDE), 409, "expired"),
    "approval cancelled, decided": (lambda k: ("POST", _cancelled(k), DECIDE), 409, "cancelled"),
    "approval decided with a made-up decision": (lambda k: ("POST", k.approval_path(k.approval), {"decision": "x"}),
                                                 422, "decision"),
    # The password-reset link: bound to one user and to the password it may replace.
    "reset tampered, shown": (lambda k: ("GET", tampered(k.reset_path(k.ada)), None), 404, NOT_VALID),
    "reset tampered, used": (lambda k: ("POST", tampered(k.reset_path(k.ada)), NEW_PASSWORD), 404, NOT_VALID),
    "reset re-pointed at another user": (lambda k: ("POST", R + repointed(
        token(k.reset_path(k.ada)), token(k.reset_path(k.bob))), NEW_PASSWORD), 404, NOT_VALID),
    "reset signed with another key": (lambda k: ("POST", R + k.signed(signed_links.PASSWORD_RESET, {"u": k.ada, "p": "x"},
                                                                      key="another-deployment"), NEW_PASSWORD), 404, NOT_VALID),
    "an approval token as a reset link": (lambda k: ("POST", R + token(k.approval_path(k.approval)), NEW_PASSWORD),
                                          404, NOT_VALID),
    "reset for a user that does not exist": (lambda k: ("POST", R + k.signed(signed_links.PASSWORD_RESET,
                                                                             {"u": 2**31 - 1, "p": "x"}), NEW_PASSWORD),
                                             404, NOT_VALID),
    "reset for a user id of the wrong type": (lambda k: ("GET", R + k.signed(signed_links.PASSWORD_RESET,
                                                                             {"u": str(k.ada)}), None), 404, NOT_VALID),
    "reset forged for the current password": (lambda k: ("POST", R + k.signed(signed_links.PASSWORD_RESET,
                                                                              {"u": k.ada, "p": "guess"}), NEW_PASSWORD),
                                              410, ALREADY_USED),
    "reset reused, shown": (lambda k: ("GET", _reset_used(k), None), 410, ALREADY_USED),
    "reset reused, used again": (lambda k: ("POST", _reset_used(k), NEW_PASSWORD), 410, ALREADY_USED),
    "reset after the password changed otherwise": (lambda k: ("POST", _reset_after_password_change(k), NEW_PASSWORD),
                                                   410, ALREADY_USED),
    # The verification link of a new notification address: bound to a user and the address.
    "verify tampered": (lambda k: ("GET", tampered(k.verify_path(k.ada)), None), 404, NOT_VALID),
    "verify re-pointed at another user": (lambda k: ("GET", V + repointed(
        token(k.verify_path(k.ada)), token(k.verify_path(k.bob, "bobs@example.com"))), None), 404, NOT_VALID),
    "verify signed with another key": (lambda k: ("GET", V + k.signed(signed_links.VERIFY_EMAIL, {"u": k.ada, "e": "x@example.com"},
                                                                      key="another-deployment"), None), 404, NOT_VALID),
    "a reset token as a verify link": (lambda k: ("GET", V + token(k.reset_path(k.ada)), None), 404, NOT_VALID),
    "verify for an address never asked for": (lambda k: ("GET", V + k.signed(
        signed_links.VERIFY_EMAIL, {"u": k.ada, "e": "attacker@example.com"}), None), 404, "already used or replaced"),
    "verify reused": (lambda k: ("GET", _verify_used(k), None), 404, "already used or replaced"),
    "verify replaced by a newer link": (lambda k: ("GET", _verify_replaced(k), None), 404, "already used or replaced"),
}

EXPIRING = {  # genuine links opened after their lifetime
    "reset expired, shown": (lambda k: ("GET", k.reset_path(k.ada), None), profile.RESET_MAX_AGE, 410, "expired"),
    "reset expired, used": (lambda k: ("POST", k.reset_path(k.ada), NEW_PASSWORD), profile.RESET_MAX_AGE, 410, "expired"),
    "verify expired": (lambda k: ("GET", k.verify_path(k.ada), None), profile.VERIFY_MAX_AGE, 410, "expired"),
}


def _check(links: Links, request: Request, status: int, says: str) -> None:
    """The request gets `status` and a page saying `says`, and leaves every table as it was."""
    method, path, form = request
    before = table_rows(links.app)
    response = links.client.get(path) if method == "GET" else links.post(path, **(form or {}))
    record("token cases")
    text = response.get_data(as_text=True)
    record("500s seen", int(response.status_code >= 500))
    assert (response.status_code, says in text) == (status, True), text[:1500]
    assert "Traceback" not in text
    unchanged = table_rows(links.app) == before
    record("rows written by rejected requests", int(not unchanged))
    assert unchanged, f"{method} {path[:60]}… changed something"


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_bad_or_spent_link_gets_a_clear_page_and_changes_nothing(links, case):
    make, status, says = CASES[case]
    _check(links, make(links), status, says)


@pytest.mark.parametrize("case", EXPIRING, ids=list(EXPIRING))
def test_an_expired_link_says_so_and_changes_nothing(links, case, monkeypatch):
    make, lifetime, status, says = EXPIRING[case]
    request = make(links)
    later(lifetime + 1, monkeypatch)
    _check(links, request, status, says)


def test_the_genuine_links_work_once_for_their_own_object(links):
    """The control: each link does what it says, for the object it names, and only once."""
    path = links.approval_path(links.approval)
    assert links.post(path, decision="reject").status_code == 200
    with links.app.app_context():
        mine, bobs = db.session.get(Approval, links.approval), db.session.get(Approval, links.bobs_approval)
        assert (mine.status, mine.decided_by, mine.channel.value) == (ApprovalStatus.REJECTED, "ada@example.com", "email")
        assert bobs.status == ApprovalStatus.PENDING
    reset = links.reset_path(links.bob)
    assert links.post(reset, password="bobs-new-password").status_code == 302
    with links.app.app_context():
        assert db.session.get(User, links.bob).check_password("bobs-new-password")
        assert not db.session.get(User, links.ada).check_password("bobs-new-password")
    verify = links.verify_path(links.ada)
    assert links.client.get(verify).status_code == 200
    with links.app.app_context():
        assert db.session.get(User, links.ada).notification_email == "elsewhere@example.com"
        assert db.session.get(User, links.bob).notification_email is None
    record("token cases", 3)
