"""Sessions end on the server: after logout a copied session cookie or remember-me cookie opens
nothing; changing the password ends every other session, resetting it by the emailed link ends
them all; a session past its lifetime opens nothing either. Real cookies, copied between clients
as an attacker would copy them (over a real socket in the last test), each try a "session case".
"""
from __future__ import annotations

import re
from datetime import timedelta

import httpx
import sqlalchemy as sa

from extensions import db
from models import Outbox, UserSession, utcnow
from tests.conftest import CSRF_INPUT, csrf_from
from tests.reliability.figures import record
from workflows.integrations.accounts import SESSION_MAX_AGE

SESSION, REMEMBER = "session", "remember_token"
EMAIL, PASSWORD = "ada@example.com", "correct-horse-1"


def _stolen(app, source, *names: str):  # type: ignore[no-untyped-def]
    """A fresh client holding only copies of `source`'s cookies `names` (by value, nothing else);
    `source` is a client or a dict of values copied earlier."""
    thief = app.test_client()
    for name in names:
        thief.set_cookie(name, source[name] if isinstance(source, dict) else source.get_cookie(name).value)
    return thief


def _opens(client) -> bool:
    """Does this client get into the account? (one session case)"""
    record("session cases")
    return client.get("/settings").status_code == 200


def _log_in(app, remember: bool = True):  # type: ignore[no-untyped-def]
    """Another browser, logged in through the form."""
    browser = app.test_client()
    token = csrf_from(browser.get("/auth/login").get_data(as_text=True))
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": token, **({"remember": "y"} if remember else {})}
    assert browser.post("/auth/login", data=data).status_code == 302
    return browser


def test_copied_session_and_remember_me_cookies_stop_working_after_logout(app, auth, client):
    auth.register(EMAIL, PASSWORD)
    auth.logout()
    auth.login(EMAIL, PASSWORD, remember=True)
    values = {name: client.get_cookie(name).value for name in (SESSION, REMEMBER)}
    tries = [(SESSION,), (REMEMBER,), (SESSION, REMEMBER)]
    assert all(_opens(_stolen(app, values, *names)) for names in tries)  # each cookie alone opens the account ...
    auth.logout()
    assert not _opens(client)
    assert not any(_opens(_stolen(app, values, *names)) for names in tries)  # ... until its session ended


def test_logging_out_one_device_leaves_the_others_logged_in(app, auth, client):
    auth.register(EMAIL, PASSWORD)
    phone = _log_in(app, remember=False)
    auth.logout()
    assert _opens(phone)


def test_changing_the_password_ends_every_other_session_and_its_cookies(app, auth, client):
    auth.register(EMAIL, PASSWORD)
    auth.logout()
    auth.login(EMAIL, PASSWORD, remember=True)
    other = _log_in(app)
    copies = [_stolen(app, other, SESSION), _stolen(app, other, REMEMBER)]
    assert all(_opens(copy) for copy in copies)
    token = csrf_from(client.get("/settings").get_data(as_text=True))
    response = client.post("/settings/password", data={"current_password": PASSWORD,
                                                        "new_password": "a-new-password-2", "csrf_token": token})
    assert "Your password has been changed. 1 other session ended." in response.get_data(as_text=True)
    assert _opens(client) and _opens(_stolen(app, client, REMEMBER))  # this device goes on
    assert not _opens(other) and not any(_opens(copy) for copy in copies)


def test_a_password_reset_by_the_emailed_link_ends_every_session(app, auth, client):
    auth.register(EMAIL, PASSWORD)
    auth.logout()
    auth.login(EMAIL, PASSWORD, remember=True)
    laptop = _log_in(app)
    copies = [_stolen(app, browser, name) for browser in (client, laptop) for name in (SESSION, REMEMBER)]
    anonymous = app.test_client()
    anonymous.post("/auth/reset", data={"email": EMAIL,
                                        "csrf_token": csrf_from(anonymous.get("/auth/reset").get_data(as_text=True))})
    with app.app_context():
        text = db.session.scalar(sa.select(Outbox.text).order_by(Outbox.id.desc()).limit(1))
    path = re.search(r"(/auth/reset/\S+)", text).group(1)
    form = anonymous.get(path).get_data(as_text=True)
    assert anonymous.post(path, data={"password": "brand-new-password", "csrf_token": csrf_from(form)}).status_code == 302
    assert not any(_opens(browser) for browser in (client, laptop, *copies))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(UserSession.id))) == 0


def test_a_session_past_its_lifetime_opens_nothing(app, auth, client):
    auth.register(EMAIL, PASSWORD)
    auth.logout()
    auth.login(EMAIL, PASSWORD, remember=True)
    copy = _stolen(app, client, REMEMBER)
    with app.app_context():
        db.session.execute(sa.update(UserSession).values(created_at=utcnow() - SESSION_MAX_AGE - timedelta(minutes=1)))
        db.session.commit()
    assert not _opens(client) and not _opens(copy)


def test_over_a_real_socket_a_copied_cookie_header_stops_working_after_logout(app, live_server):
    """The Set-Cookie headers a browser really gets, replayed as raw Cookie values by another client."""
    with httpx.Client(base_url=live_server.url, follow_redirects=False, timeout=10) as browser:
        token = CSRF_INPUT.search(browser.get("/auth/register").text).group(1)
        assert browser.post("/auth/register", data={"email": EMAIL, "password": PASSWORD,
                                                    "csrf_token": token}).status_code == 302
        token = CSRF_INPUT.search(browser.get("/settings").text).group(1)
        browser.post("/auth/logout", data={"csrf_token": token})
        token = CSRF_INPUT.search(browser.get("/auth/login").text).group(1)
        browser.post("/auth/login", data={"email": EMAIL, "password": PASSWORD, "remember": "y", "csrf_token": token})
        jar = {name: browser.cookies[name] for name in (SESSION, REMEMBER)}

        def thief_opens(names: tuple[str, ...]) -> bool:
            record("session cases")
            header = "; ".join(f"{name}={jar[name]}" for name in names)
            return httpx.get(live_server.url + "/settings", headers={"Cookie": header}, timeout=10).status_code == 200

        tries = [(SESSION,), (REMEMBER,), (SESSION, REMEMBER)]
        assert all(thief_opens(names) for names in tries)
        token = CSRF_INPUT.search(browser.get("/settings").text).group(1)
        assert browser.post("/auth/logout", data={"csrf_token": token}).status_code == 302
        assert not any(thief_opens(names) for names in tries)
