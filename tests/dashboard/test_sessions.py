"""Sessions (issue 11): after logout a copied session cookie or remember-me cookie opens nothing;
changing or resetting the password ends every other session. Real cookies, copied between
test clients as an attacker would copy them."""
from __future__ import annotations

from tests.conftest import csrf_from

REMEMBER = "remember_token"


def _copy_cookies(source, target) -> None:
    """Give `target` every cookie `source` holds (a stolen cookie jar)."""
    for name in ("session", REMEMBER):
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(cookie.key, cookie.value, domain=cookie.domain)


def _logged_in(client) -> bool:
    return client.get("/settings").status_code == 200


def test_a_copied_session_cookie_stops_working_after_logout(app, auth, client):
    auth.register()
    thief = app.test_client()
    _copy_cookies(client, thief)
    assert _logged_in(thief)
    auth.logout()
    assert not _logged_in(client)
    assert not _logged_in(thief)


def test_a_copied_remember_me_cookie_stops_working_after_logout(app, auth, client):
    auth.register()
    auth.logout()
    auth.login(remember=True)
    copied = client.get_cookie(REMEMBER).value
    thief = app.test_client()
    thief.set_cookie(REMEMBER, copied)
    assert _logged_in(thief)  # the remember cookie alone logs in ...
    auth.logout()
    fresh = app.test_client()
    fresh.set_cookie(REMEMBER, copied)
    assert not _logged_in(fresh)  # ... until the session it belongs to ended
    assert not _logged_in(thief)


def test_logging_out_one_device_leaves_the_others_logged_in(app, auth, client):
    auth.register()
    phone = app.test_client()
    token = csrf_from(phone.get("/auth/login").get_data(as_text=True))
    phone.post("/auth/login", data={"email": "ada@example.com", "password": "correct-horse-1", "csrf_token": token})
    assert _logged_in(phone)
    auth.logout()
    assert _logged_in(phone)


def test_changing_the_password_ends_every_other_session(app, auth, client):
    auth.register()
    auth.logout()
    auth.login(remember=True)
    other = app.test_client()
    token = csrf_from(other.get("/auth/login").get_data(as_text=True))
    other.post("/auth/login", data={"email": "ada@example.com", "password": "correct-horse-1", "csrf_token": token, "remember": "y"})
    copied_remember = other.get_cookie(REMEMBER).value
    assert _logged_in(other)

    token = csrf_from(client.get("/settings").get_data(as_text=True))
    response = client.post("/settings/password", data={"current_password": "correct-horse-1",
                                                        "new_password": "a-new-password-2", "csrf_token": token})
    assert "Your password has been changed. 1 other session ended." in response.get_data(as_text=True)
    assert _logged_in(client)  # this one goes on
    assert not _logged_in(other)
    again = app.test_client()
    again.set_cookie(REMEMBER, copied_remember)
    assert not _logged_in(again)
